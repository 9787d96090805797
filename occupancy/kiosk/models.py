"""Kiosk tokens and the precomputed status document of each room (app ``occupancy``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from spaces_calendar.core.models import Building, Floor, Room, Tenant


class KioskToken(models.Model):
    """A credential for room panels and lobby screens: read-only, one tenant, a set of rooms.

    The rooms it may read are ``rooms`` plus every room on ``floor`` plus every room in ``building``. Only the
    SHA-256 of the token is kept; ``prefix`` is the non-secret part of the token used to find the row.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="kiosk_tokens")
    name = models.CharField(max_length=100, help_text="Where the screen hangs, e.g. “Lobby, building A”.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    rooms = models.ManyToManyField(Room, blank=True, related_name="+")
    floor = models.ForeignKey(Floor, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    building = models.ForeignKey(Building, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        app_label = "occupancy"
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KioskRoomStatus(models.Model):
    """One room's status document as the API serves it, with what it was computed from.

    The request path reads this row and compares ``booking_version`` / ``occupancy_version`` with fingerprints
    of the room's bookings and sensor states taken in the same query (see ``queries``); ``valid_until_ts`` is the
    next moment the status changes by the clock alone (a booking starts or ends, a reading goes stale).
    """

    room = models.OneToOneField(Room, on_delete=models.CASCADE, primary_key=True, related_name="+")
    etag = models.CharField(max_length=64)
    #: The JSON document after its leading ``{"data_age_s":<n>`` member, with a 0x1F character where the value
    #: of ``occupancy.observed_at`` goes: both are filled in when served (see ``documents``).
    body = models.TextField()
    valid_until_ts = models.FloatField(help_text="Epoch seconds.")
    #: Bookings starting from here on are fingerprinted by ``booking_version``.
    bookings_from = models.DateTimeField()
    booking_version = models.CharField(max_length=100)
    #: Sensor readings after this one count as recent in ``occupancy_version``.
    recent_after = models.DateTimeField()
    occupancy_version = models.CharField(max_length=200)
    computed_at = models.DateTimeField()

    class Meta:
        app_label = "occupancy"

    def __str__(self) -> str:
        return f"status of room {self.room_id}"
