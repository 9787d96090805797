"""Shapes of the kiosk API's JSON, for the OpenAPI schema (the documents themselves are built in ``status``)."""

from __future__ import annotations

from rest_framework import serializers


class KioskPlaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class KioskRoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    capacity = serializers.IntegerField(allow_null=True)
    time_zone = serializers.CharField(help_text="IANA time zone of the room: show times in it.")
    floor = KioskPlaceSerializer()
    building = KioskPlaceSerializer()


class KioskBookingSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    all_day = serializers.BooleanField()
    subject = serializers.CharField(allow_null=True, help_text="Only when the tenant shows subjects on kiosks and "
                                                               "the meeting is not private.")


class KioskOccupancySerializer(serializers.Serializer):
    state = serializers.ChoiceField(["occupied", "empty", "unknown"])
    people_count = serializers.IntegerField(allow_null=True, help_text="0 when empty; null when not counted.")
    observed_at = serializers.DateTimeField(allow_null=True, help_text="The newest sensor reading, fresh or not.")
    sources = serializers.ListField(child=serializers.CharField(), help_text="Sensors whose readings are fresh.")


class KioskSourceSerializer(serializers.Serializer):
    calendar = serializers.BooleanField(help_text="The room has a linked calendar (or bookings).")
    sensors = serializers.ListField(child=serializers.CharField(), help_text="Every sensor that reports on it.")


class RoomStatusSerializer(serializers.Serializer):
    data_age_s = serializers.IntegerField(allow_null=True, min_value=0,
                                          help_text="Seconds since the newest sensor reading; null without sensors.")
    room = KioskRoomSerializer()
    state = serializers.ChoiceField(["free", "pending", "busy"], help_text=(
        "busy: occupied, or booked now with occupancy unknown. pending: booked now, empty, within the grace window "
        "(all-day and very long bookings: while empty). free: otherwise, including a booking nobody came to "
        "within the grace window."))
    current_booking = KioskBookingSerializer(allow_null=True)
    next_booking = KioskBookingSerializer(allow_null=True)
    free_until = serializers.DateTimeField(allow_null=True, help_text="When free: the next booking's start.")
    busy_until = serializers.DateTimeField(allow_null=True, help_text=(
        "When booked now: the end of the current run of back-to-back bookings."))
    occupancy = KioskOccupancySerializer()
    source = KioskSourceSerializer()


class RoomStatusListSerializer(serializers.Serializer):
    rooms = RoomStatusSerializer(many=True)


class KioskAvailabilitySerializer(serializers.Serializer):
    # "from" is a keyword, so the field is declared through the serializer's fields mapping below.
    to = serializers.DateTimeField()
    capacity = serializers.IntegerField(allow_null=True)
    rooms = KioskRoomSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateTimeField(), **fields}


class KioskErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.CharField(), required=False,
                                   help_text="Each malformed parameter and what is wrong with it.")
