"""Calendar connections (one per tenant and provider), room ↔ calendar links, bookings and change subscriptions.

Provider-neutral: Microsoft 365 and Google Workspace fill the same rows; ``provider`` says whose ids these are.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from spaces_calendar.core.fields import EncryptedTextField
from spaces_calendar.core.models import Room, Tenant


class Provider(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google Workspace"


class ConnectionStatus(models.TextChoices):
    PENDING = "pending", "Pending consent"
    ACTIVE = "active", "Active"
    NEEDS_CONSENT = "needs_consent", "Needs consent"
    DISABLED = "disabled", "Disabled"
    ERROR = "error", "Error"


class CalendarConnection(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calendar_connections")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    #: Entra tenant id, or Google Workspace customer id: whose calendars these are.
    external_tenant_id = models.CharField(max_length=100, blank=True)
    #: Provider credentials we must keep (Google's refresh token); Microsoft's app-only flow needs none.
    credentials = EncryptedTextField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.PENDING)
    status_reason = models.CharField(max_length=500, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider"], name="one_connection_per_provider"),
            models.UniqueConstraint(
                fields=["provider", "external_tenant_id"],
                condition=~Q(external_tenant_id=""),
                name="external_tenant_connected_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.tenant}"


class CalendarLink(models.Model):
    """One room's calendar at a provider. A room has at most one link: its bookings come from one place."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="links")
    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="calendar_link")
    #: The room mailbox address (Microsoft) or resource calendar id (Google); keyed by it because ids change.
    external_calendar_id = models.CharField(max_length=320)
    #: Microsoft @odata.deltaLink or Google nextSyncToken; empty means the next sync is a full one.
    sync_state = models.TextField(blank=True)
    #: The window ``sync_state`` covers; a new local day means a new window and so a full sync.
    sync_window_start = models.DateTimeField(null=True, blank=True)
    sync_window_end = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    #: Set by the worker that claimed this link's sync; another claim waits until it is past (a lease, so a
    #: killed worker only delays the room).
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, db_index=True)
    #: Bumped by every change notification; a sync that started before the bump leaves the link due again.
    change_seq = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_calendar_id"], name="calendar_linked_once"),
        ]

    def __str__(self) -> str:
        return f"{self.room} ← {self.external_calendar_id}"


class DiscoveredCalendar(models.Model):
    """A room calendar the provider told us about (or an admin added by address), offered for linking."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="discovered")
    #: The room's email address (Microsoft) or resource email (Google): the stable key.
    external_id = models.CharField(max_length=320)
    name = models.CharField(max_length=300, blank=True)
    capacity = models.PositiveIntegerField(null=True, blank=True)
    building = models.CharField(max_length=300, blank=True)
    floor = models.CharField(max_length=100, blank=True)
    #: Added by an admin because discovery does not list it (hidden from the address list, or just created).
    added_manually = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="calendar_discovered_once"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.external_id}>" if self.name else self.external_id


class Subscription(models.Model):
    """A Graph change-notification subscription or a Google push channel for one link."""

    link = models.ForeignKey(CalendarLink, on_delete=models.CASCADE, related_name="subscriptions")
    external_id = models.CharField(max_length=200, unique=True)
    #: Google's X-Goog-Resource-ID; Graph's subscribed resource path.
    resource = models.CharField(max_length=500, blank=True)
    #: Graph clientState / Google channel token: proves a notification came from the provider.
    client_state = EncryptedTextField()
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.external_id


class ValidationWindow(models.Model):
    """Open while we create a subscription: Graph's validation request names no subscription, so a handshake
    is only answered while one of these is open (otherwise our endpoint would echo text for anyone)."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"validation window until {self.expires_at:%H:%M:%S}"


class Booking(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bookings")
    link = models.ForeignKey(CalendarLink, on_delete=models.SET_NULL, null=True, related_name="bookings")
    external_id = models.CharField(max_length=300)
    ical_uid = models.CharField(max_length=300, blank=True)
    series_id = models.CharField(max_length=300, blank=True)
    #: Empty for private events: we never store what a private meeting is about.
    subject = models.CharField(max_length=500, blank=True)
    organizer_hash = models.CharField(max_length=64, blank=True)
    attendee_count = models.PositiveIntegerField(null=True, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    all_day = models.BooleanField(default=False)
    private = models.BooleanField(default=False)
    cancelled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["room", "start"])]
        constraints = [
            models.UniqueConstraint(fields=["link", "external_id"], name="booking_once_per_link"),
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="booking_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.room} {self.start:%Y-%m-%d %H:%M}"
