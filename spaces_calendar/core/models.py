"""Tenants, their people, and their places: Tenant, Membership, Building → Floor → Room."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Oslo).") from None


class Tenant(models.Model):
    """A customer organisation: everything a user or kiosk sees is scoped to one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin (onboarding, linking)"
    VIEWER = "viewer", "Viewer (reports)"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class Building(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="buildings")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="building_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Floor(models.Model):
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="floors")
    name = models.CharField(max_length=100)
    level = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["building__name", "level", "name"]
        constraints = [models.UniqueConstraint(fields=["building", "name"], name="floor_name_per_building")]

    def __str__(self) -> str:
        return f"{self.building.name} / {self.name}"


class Room(models.Model):
    # ``tenant`` repeats floor.building.tenant so that every tenant-scoped query (kiosks, reports, sync) is a
    # single indexed filter; save() keeps the two in step.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rooms", editable=False)
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, help_text="Resource mailbox or calendar address.")
    capacity = models.PositiveIntegerField(null=True, blank=True)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text="Empty: the building's."
    )
    spaces_location_id = models.CharField(max_length=100, blank=True)
    webex_workspace_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email"], condition=~Q(email=""), name="room_email_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "spaces_location_id"],
                condition=~Q(spaces_location_id=""),
                name="room_spaces_location_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "webex_workspace_id"],
                condition=~Q(webex_workspace_id=""),
                name="room_webex_workspace_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        self.tenant_id = Building.objects.values_list("tenant_id", flat=True).get(floors=self.floor_id)
        super().save(*args, **kwargs)

    @property
    def zone(self) -> ZoneInfo:
        """The room's time zone: decides what "today" means for it and how times are shown."""
        return ZoneInfo(self.time_zone or self.floor.building.time_zone)


class WorkerHeartbeat(models.Model):
    """Written by each Celery worker on a timer; /healthz reads it (the embedded broker has no remote ping)."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.hostname
