"""A connection's lifecycle beyond onboarding: consent revoked, and resuming after the admin reconnects."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from spaces_calendar.core.tasks_seam import enqueue_on_commit

from .models import CalendarConnection, CalendarLink, ConnectionStatus, Subscription
from .remote import provider_for

logger = logging.getLogger(__name__)


@transaction.atomic
def mark_needs_consent(connection: CalendarConnection, reason: str, description: str = "") -> None:
    """The customer withdrew our access: forget the credentials, drop the subscriptions, stop syncing.

    The subscriptions cannot be deleted at the provider without access (and the provider drops them itself when
    consent goes), so only our rows go. Links and bookings stay, so reconnecting resumes where it stopped.
    """
    locked = CalendarConnection.objects.select_for_update().get(pk=connection.pk)
    if locked.status == ConnectionStatus.NEEDS_CONSENT:
        return
    text = f"{reason}: {description}" if description else reason
    locked.status = ConnectionStatus.NEEDS_CONSENT
    locked.status_reason = text[:500]
    locked.credentials = None
    locked.token_expires_at = None
    locked.last_error = text[:1000]
    locked.last_error_at = timezone.now()
    locked.save()
    dropped, _ = Subscription.objects.filter(link__connection=locked).delete()
    provider_for(locked.provider).forget(locked)
    connection.status = locked.status
    logger.warning("connection %s needs consent again (%s); %d subscription(s) dropped", locked.pk, reason, dropped)


def resume_connection(connection: CalendarConnection) -> int:
    """After a successful (re)consent: every link syncs in full now and gets its subscription back."""
    count = CalendarLink.objects.filter(connection=connection).update(
        sync_state="", next_sync_at=timezone.now(), claimed_until=None, claim_token="", failures=0)
    enqueue_on_commit("calendars.connection_resumed", connection.pk,
                      consequence="the links are due now and beat's dispatch syncs them; rooms refresh on demand")
    return count
