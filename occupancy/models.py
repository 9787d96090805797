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
    WEBEX = "webex", "Webex room device"


class OccupancySignal(models.Model):
    """One observation of a room by one source. ``present`` None and ``people_count`` None mean unknown."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="occupancy_signals")
    source = models.CharField(max_length=32, choices=Source.choices)
    observed_at = models.DateTimeField()
    #: For windowed sources (Spaces occupancy): the end of the window the values summarise.
    window_end = models.DateTimeField(null=True, blank=True)
    present = models.BooleanField(null=True)
    people_count = models.IntegerField(null=True, blank=True)
    peak_count = models.IntegerField(null=True, blank=True)
    #: The upstream event that carried it (Firehose ``recordUid``), for tracing and exactly-once proofs.
    source_event_id = models.CharField(max_length=200, blank=True, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["room", "observed_at"])]

    def __str__(self) -> str:
        return f"{self.room_id} {self.source} {self.observed_at:%Y-%m-%d %H:%M:%S}"


class RoomSourceState(models.Model):
    """The latest signal per room and source (what a kiosk and fusion read without scanning history)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="source_states")
    source = models.CharField(max_length=32, choices=Source.choices)
    observed_at = models.DateTimeField()
    present = models.BooleanField(null=True)
    people_count = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "source"], name="one_state_per_room_source")]

    def __str__(self) -> str:
        return f"{self.room_id} {self.source}"
