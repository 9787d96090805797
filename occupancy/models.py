"""Occupancy signals as they arrive from every source, and the latest state per room and source.

Issue #5 builds fusion, occupied spans and booking outcomes on these rows; raw signals are not kept forever.
"""

from __future__ import annotations

from django.db import models

from spaces_calendar.core.models import Room, Tenant


class Source(models.TextChoices):
    SPACES_WIFI = "spaces_wifi", "Cisco Spaces Wi-Fi presence"
    SPACES_CAMERA = "spaces_camera", "Cisco Spaces camera counts"
    SPACES_OCCUPANCY = "spaces_occupancy", "Cisco Spaces space occupancy"
    SPACES_IOT = "spaces_iot", "Cisco Spaces IoT sensor"
    #: Webex presence (ultrasound, PeoplePresence; RoomInUse). People counts of the same device are WEBEX_PEOPLE:
    #: the two metrics arrive separately, on change, and each holds until that metric says otherwise.
    WEBEX = "webex", "Webex room device presence"
    WEBEX_PEOPLE = "webex_people", "Webex room device people count"


class SensorKind(models.TextChoices):
    """How a source names a room: a Cisco Spaces location, or a Webex workspace."""

    SPACES_LOCATION = "spaces_location", "Cisco Spaces location"
    WEBEX_WORKSPACE = "webex_workspace", "Webex workspace"


class OccupancySignal(models.Model):
    """One observation of a room by one source. ``present`` None and ``people_count`` None mean unknown."""

    # Every index and constraint here is paid on every signal the Firehose brings (most of its events). One index
    # serves the readers, (room, source, observed_at); it leads with the room, so deleting a room finds its
    # signals with it, and deleting a tenant scans (rare). No foreign-key constraints in the database: PostgreSQL
    # checks each at commit, row by row, which cost as much as the insert; the intake resolves every room id in
    # the batch's own transaction, and Django's delete cascades (room, tenant) remove the signals as before.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False,
                               db_constraint=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="occupancy_signals", db_index=False,
                             db_constraint=False)
    source = models.CharField(max_length=32, choices=Source.choices)
    observed_at = models.DateTimeField()
    #: For windowed sources (Spaces occupancy): the end of the window the values summarise.
    window_end = models.DateTimeField(null=True, blank=True)
    present = models.BooleanField(null=True)
    people_count = models.IntegerField(null=True, blank=True)
    peak_count = models.IntegerField(null=True, blank=True)
    #: The upstream event that carried it (Firehose ``recordUid``), for tracing and exactly-once proofs.
    source_event_id = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # (room, source, observed_at): the reading of each source that holds at the start of a range (on-change
        # sources may have said it hours before), one index probe each; and a range of a room's signals, read
        # with every source named (``pipeline.SIGNAL_SOURCES``) so that the index is entered at each.
        indexes = [models.Index(fields=["room", "source", "observed_at"], name="signal_room_source_time")]

    def __str__(self) -> str:
        return f"{self.room_id} {self.source} {self.observed_at:%Y-%m-%d %H:%M:%S}"


class RoomSourceState(models.Model):
    """The latest signal per room and source (what a kiosk and fusion read without scanning history)."""

    # No index of its own: the unique (room, source) leads with the room (the Firehose upserts it every batch).
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="source_states", db_index=False)
    source = models.CharField(max_length=32, choices=Source.choices)
    observed_at = models.DateTimeField()
    present = models.BooleanField(null=True)
    people_count = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "source"], name="one_state_per_room_source")]

    def __str__(self) -> str:
        return f"{self.room_id} {self.source}"


class SensorSource(models.Model):
    """A Spaces location or Webex workspace we have heard of (hierarchy changes, signals on the stream), mapped or
    not: the Sensors page lists these. The mapping itself lives on the room (``Room.spaces_location_id`` /
    ``webex_workspace_id``), as the intake resolves it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=SensorKind.choices)
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    #: Names from the outermost location in, e.g. "Oslo campus / HQ / Floor 3" (Webex: the device's name).
    hierarchy = models.CharField(max_length=600, blank=True)
    #: Spaces' ``inferredLocationTypes`` of the location itself, comma-separated (ZONE, FLOOR, ...).
    location_types = models.CharField(max_length=200, blank=True)
    parent_key = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    #: Which kinds of signal it sent (``webex``, ``spaces_camera``, ...), comma-separated.
    signal_sources = models.CharField(max_length=200, blank=True)
    #: Spaces said REMOVE.
    removed = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_signal_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind", "key"], name="one_sensor_source")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.name})"


class PendingSignal(models.Model):
    """A signal for a location or workspace not (yet) mapped to a room. Kept for ``OCCUPANCY_MAX_SIGNAL_AGE_S``
    so that mapping it later applies its history (``sensors.map_source``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=SensorKind.choices)
    key = models.CharField(max_length=200)
    source = models.CharField(max_length=32, choices=Source.choices)
    observed_at = models.DateTimeField()
    window_end = models.DateTimeField(null=True, blank=True)
    present = models.BooleanField(null=True)
    people_count = models.IntegerField(null=True, blank=True)
    peak_count = models.IntegerField(null=True, blank=True)
    source_event_id = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind", "key"]), models.Index(fields=["observed_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} {self.source} {self.observed_at:%Y-%m-%d %H:%M:%S}"


class SourceOutage(models.Model):
    """A stretch in which one of our streams (a Firehose stream) was down and replay did not bring back what it
    carried: every room of the tenant is unknown there for the sources that stream delivers. ``end`` is None while
    the stream is still down."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    stream = models.CharField(max_length=100)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "start"])]

    def __str__(self) -> str:
        return f"{self.stream} down {self.start:%Y-%m-%d %H:%M}-{self.end or '…'}"


class OccupancyPolicy(models.Model):
    """A tenant's rules for calling bookings; a room may override the grace window."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="occupancy_policy")
    grace_minutes = models.PositiveSmallIntegerField(default=10)
    exempt_after_hours = models.PositiveSmallIntegerField(default=8)
    #: Kiosks may show meeting subjects (never of private meetings).
    show_subjects = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"policy of {self.tenant}"


class RoomGrace(models.Model):
    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="grace_override")
    grace_minutes = models.PositiveSmallIntegerField()

    def __str__(self) -> str:
        return f"{self.room}: {self.grace_minutes} min"


class SpanState(models.TextChoices):
    OCCUPIED = "occupied"
    EMPTY = "empty"
    UNKNOWN = "unknown"


class OccupancySpan(models.Model):
    """A stretch of the room's fused timeline (contiguous spans cover the time we have looked at)."""

    # No index of their own: the (room, start) and (tenant, start) indexes serve lookups by either.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="occupancy_spans", db_index=False)
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=SpanState.choices)
    peak_people = models.IntegerField(null=True, blank=True)
    median_people = models.FloatField(null=True, blank=True)
    sources = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["room", "start"]), models.Index(fields=["tenant", "start"])]

    def __str__(self) -> str:
        return f"{self.room_id} {self.state} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"


class OutcomeKind(models.TextChoices):
    ATTENDED = "attended"
    GHOST = "ghost"
    LATE_START = "late_start", "late start"
    EARLY_END = "early_end", "early end"
    UNKNOWN = "unknown"


class BookingOutcome(models.Model):
    """What happened to a booking, and the evidence. ``final`` once the booking is over."""

    booking = models.OneToOneField("calendars.Booking", on_delete=models.CASCADE, related_name="outcome")
    # No index of their own (each would slow every write of a rebuild): the (tenant, start) and (room, start)
    # indexes serve lookups by either.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+", db_index=False)
    start = models.DateTimeField()
    end = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=OutcomeKind.choices)
    final = models.BooleanField(default=False)
    first_presence_at = models.DateTimeField(null=True, blank=True)
    peak_people = models.IntegerField(null=True, blank=True)
    median_people = models.FloatField(null=True, blank=True)
    occupied_minutes = models.FloatField(default=0)
    unknown_minutes = models.FloatField(default=0)
    series_id = models.CharField(max_length=300, blank=True)
    organizer_hash = models.CharField(max_length=64, blank=True)
    evidence = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "start"]), models.Index(fields=["room", "start"]),
                   models.Index(fields=["tenant", "outcome", "start"])]

    def __str__(self) -> str:
        return f"{self.booking_id}: {self.outcome}"


class RoomDay(models.Model):
    """Daily aggregates per room (the room's local date), so reports over months read a few rows per room."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    bookings = models.PositiveIntegerField(default=0)
    booked_minutes = models.FloatField(default=0)
    occupied_minutes = models.FloatField(default=0)
    occupied_booked_minutes = models.FloatField(default=0)
    unknown_minutes = models.FloatField(default=0)
    #: Booked minutes with fresh data (occupied or empty): the report's coverage.
    covered_booked_minutes = models.FloatField(default=0)
    ghosts = models.PositiveIntegerField(default=0)
    late_starts = models.PositiveIntegerField(default=0)
    early_ends = models.PositiveIntegerField(default=0)
    unknowns = models.PositiveIntegerField(default=0)
    recoverable_minutes = models.FloatField(default=0)
    peak_people = models.IntegerField(null=True, blank=True)
    #: Occupied minutes per local hour (24 numbers), for the hour x weekday heatmap.
    occupied_by_hour = models.JSONField(default=list)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "date"], name="one_day_per_room")]
        indexes = [models.Index(fields=["tenant", "date"])]

    def __str__(self) -> str:
        return f"{self.room_id} {self.date}"


class SignalCursor(models.Model):
    """How far the pipeline has folded signals into spans (the last OccupancySignal id it processed)."""

    name = models.CharField(max_length=50, unique=True)
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"


# The kiosk's models live in their package (occupancy/kiosk/models.py); importing them here registers them.
from .kiosk.models import KioskRoomStatus, KioskToken  # noqa: E402, F401
