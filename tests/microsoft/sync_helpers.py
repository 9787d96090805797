"""Shared set-up for the sync tests: an active Microsoft connection, and rooms linked on both sides."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, ConnectionStatus, Provider
from spaces_calendar.core.models import Room, Tenant
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from tests.factories import make_room


def connect(tenant: Tenant, fake: FakeMicrosoft) -> CalendarConnection:
    return CalendarConnection.objects.create(
        tenant=tenant, provider=Provider.MICROSOFT, external_tenant_id=fake.tenant_id,
        status=ConnectionStatus.ACTIVE, consented_at=timezone.now(),
    )


def linked_room(connection: CalendarConnection, fake: FakeMicrosoft, name: str, **room_fields) -> CalendarLink:
    room: Room = make_room(connection.tenant, name, time_zone=room_fields.pop("time_zone", "Europe/Oslo"),
                           **room_fields)
    fake.add_room(room.email, name, capacity=8)
    return CalendarLink.objects.create(connection=connection, room=room, external_calendar_id=room.email,
                                       next_sync_at=timezone.now())


def soon(hours: float = 1.0, minutes: int = 0) -> datetime:
    """A naive UTC time ``hours`` from now rounded to the minute: fake events take naive local times."""
    moment = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=hours, minutes=minutes)
    return moment.replace(tzinfo=None)
