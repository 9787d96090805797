"""Response shapes of the reports API (read-only: they serialise the dataclasses of ``occupancy.reports``)."""

from __future__ import annotations

from datetime import datetime

from rest_framework import serializers


class FiltersSerializer(serializers.Serializer):
    """The filters the answer was computed with, defaults filled in."""

    date_from = serializers.DateField(help_text="First local date (inclusive).")
    date_to = serializers.DateField(help_text="Last local date (inclusive).")
    building = serializers.IntegerField(source="building.pk", allow_null=True, default=None)
    floor = serializers.IntegerField(source="floor.pk", allow_null=True, default=None)
    room = serializers.IntegerField(source="room.pk", allow_null=True, default=None)
    organizer = serializers.CharField(help_text="Organiser email filtered on, or empty.")


class LocalDateTimeField(serializers.DateTimeField):
    """ISO 8601 in the room's own time zone: DRF's field would turn it into the server's (UTC)."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class GhostBookingSerializer(serializers.Serializer):
    booking_id = serializers.IntegerField()
    room_id = serializers.IntegerField()
    room = serializers.CharField()
    floor = serializers.CharField()
    building = serializers.CharField()
    start = LocalDateTimeField(help_text="Local time of the room, with its UTC offset.")
    end = LocalDateTimeField()
    subject = serializers.CharField(help_text="Empty for private meetings.")
    private = serializers.BooleanField()
    series_id = serializers.CharField(help_text="The recurring series, or empty.")
    evidence = serializers.DictField(
        help_text="first_presence_at, last_presence_at, peak_people, median_people, occupied_minutes, "
                  "data_gap_minutes, grace_window_coverage, sources.")


class GhostPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField(source="number")
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField(source="per_page")
    results = GhostBookingSerializer(source="items", many=True)


class GhostRateSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Room, floor or building id; series id; or organiser hash.")
    label = serializers.CharField()
    bookings = serializers.IntegerField(help_text="Bookings with a known outcome (not unknown).")
    ghosts = serializers.IntegerField()
    ghost_rate = serializers.FloatField(source="rate", allow_null=True, help_text="ghosts / bookings, 0 to 1.")
    recoverable_hours = serializers.FloatField(
        help_text="Booked hours nobody used: the whole length of each ghost booking plus the empty tail of each "
                  "booking that ended early (from its last presence to its booked end).")


class SeriesRateSerializer(GhostRateSerializer):
    room = serializers.CharField()
    zombie = serializers.BooleanField(help_text="Three ghosts in a row.")


class GhostReportSerializer(serializers.Serializer):
    filters = FiltersSerializer()
    summary = GhostRateSerializer(source="report.summary")
    ghost_bookings = GhostPageSerializer(source="page")
    rooms = GhostRateSerializer(source="report.rooms", many=True)
    floors = GhostRateSerializer(source="report.floors", many=True)
    buildings = GhostRateSerializer(source="report.buildings", many=True)
    series = SeriesRateSerializer(source="report.series", many=True, help_text="Series with at least one ghost.")
    zombie_series = SeriesRateSerializer(source="report.zombies", many=True)
    organizers = GhostRateSerializer(source="report.organizers", many=True)


class RoomUtilizationSerializer(serializers.Serializer):
    room_id = serializers.IntegerField()
    room = serializers.CharField()
    floor = serializers.CharField()
    building = serializers.CharField()
    capacity = serializers.IntegerField(allow_null=True)
    booked_hours = serializers.FloatField()
    occupied_hours = serializers.FloatField()
    unbooked_occupied_hours = serializers.FloatField()
    peak_people = serializers.IntegerField(allow_null=True)
    median_people = serializers.FloatField(allow_null=True)
    peak_fit = serializers.FloatField(allow_null=True, help_text="peak_people / capacity.")
    median_fit = serializers.FloatField(allow_null=True, help_text="median_people / capacity.")
    coverage = serializers.FloatField(allow_null=True, help_text="Share of booked time with fresh sensor data.")


class HeatmapSerializer(serializers.Serializer):
    weekdays = serializers.ListField(child=serializers.CharField())
    occupied_hours = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="7 rows (Monday first) of 24 local hours: total occupied hours of the chosen rooms.")


class UtilizationReportSerializer(serializers.Serializer):
    filters = FiltersSerializer()
    rooms = RoomUtilizationSerializer(many=True)
    heatmap = HeatmapSerializer()


class FilterErrorSerializer(serializers.Serializer):
    """400: the filters cannot be used."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.CharField(),
                                   help_text='Each malformed parameter with what is wrong, e.g. {"from": "..."}.')
