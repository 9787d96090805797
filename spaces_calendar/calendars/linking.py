"""Linking a room to a provider calendar, and unlinking it; the follow-up work runs in Celery."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from spaces_calendar.core.models import Room
from spaces_calendar.core.tasks_seam import enqueue_on_commit

from .models import Booking, CalendarConnection, CalendarLink, ConnectionStatus, DiscoveredCalendar

logger = logging.getLogger(__name__)


class LinkError(ValueError):
    """The link cannot be made (other tenant, calendar already linked, connection not active); fit to show."""


@transaction.atomic
def link_calendar(room: Room, calendar: DiscoveredCalendar) -> CalendarLink:
    """Link ``room`` to ``calendar``, replacing the room's previous link; the first sync and the change
    subscription follow in Celery. Linking the same pair again changes nothing."""
    connection = calendar.connection
    if connection.tenant_id != room.tenant_id:
        raise LinkError("That calendar belongs to another organisation.")
    if connection.status != ConnectionStatus.ACTIVE:
        raise LinkError(f"The {connection.get_provider_display()} connection is not active.")
    current = CalendarLink.objects.select_for_update().filter(room=room).first()
    if current is not None:
        if current.connection_id == connection.pk and current.external_calendar_id == calendar.external_id:
            return current
        unlink_calendar(current)
    taken = CalendarLink.objects.filter(connection=connection, external_calendar_id=calendar.external_id)
    other = taken.select_related("room").first()
    if other is not None:
        raise LinkError(f"{calendar} is already linked to {other.room.name}.")
    try:
        with transaction.atomic():
            link = CalendarLink.objects.create(
                connection=connection, room=room, external_calendar_id=calendar.external_id,
                next_sync_at=timezone.now(),
            )
    except IntegrityError:
        raise LinkError(f"{calendar} was linked by someone else just now.") from None
    logger.info("linked room %s to calendar %s", room.pk, calendar.external_id)
    enqueue_on_commit("calendars.link_ready", link.pk,
                      consequence="the link is due now, beat's dispatch syncs it and subscription upkeep subscribes it")
    return link


@transaction.atomic
def unlink_calendar(link: CalendarLink) -> None:
    """Remove a link: its change subscriptions are deleted at the provider, future bookings go (nothing keeps
    them current any more), past ones stay for the reports."""
    for subscription in link.subscriptions.all():
        enqueue_on_commit("calendars.delete_remote_subscription", link.connection_id, subscription.external_id,
                          subscription.resource, consequence="the provider keeps notifying until it expires")
    Booking.objects.filter(link=link, end__gt=timezone.now()).delete()
    logger.info("unlinked room %s from calendar %s", link.room_id, link.external_calendar_id)
    link.delete()


def active_connection(tenant_id: int, provider: str) -> CalendarConnection | None:
    return CalendarConnection.objects.filter(tenant_id=tenant_id, provider=provider,
                                             status=ConnectionStatus.ACTIVE).first()
