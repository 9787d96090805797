"""Celery tasks of the calendar engine: each is a thin wrapper around a function that is tested without Celery."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task

from spaces_calendar.core.http import OutboundError
from spaces_calendar.providers.errors import ConsentRevoked

from . import discovery, subscriptions, sync
from .models import CalendarConnection, CalendarLink, Subscription
from .remote import provider_for

logger = logging.getLogger(__name__)


@shared_task(name="calendars.dispatch_due_syncs", ignore_result=True)
def dispatch_due_syncs() -> int:
    chunks = sync.claim_due()
    for token, link_ids in chunks:
        sync_links.delay(token, link_ids)
    return len(chunks)


@shared_task(name="calendars.sync_links", ignore_result=True)
def sync_links(token: str, link_ids: list[int]) -> dict:
    report = sync.sync_claimed(token, link_ids)
    return {"synced": report.synced, "failed": report.failed, "skipped": report.skipped}


@shared_task(name="calendars.maintain_subscriptions", ignore_result=True)
def maintain_subscriptions() -> dict:
    return asdict(subscriptions.maintain())


@shared_task(name="calendars.link_ready", ignore_result=True)
def link_ready(link_id: int) -> None:
    """A new link: subscribe first (so no change falls between sync and subscription), then sync at once."""
    link = CalendarLink.objects.select_related("connection").filter(pk=link_id).first()
    if link is None:
        return
    subscriptions.reconcile_link(link)
    sync.request_sync([link.pk], delay_s=0, full=True)
    dispatch_due_syncs.delay()


@shared_task(name="calendars.connection_resumed", ignore_result=True)
def connection_resumed(connection_id: int) -> None:
    """After (re)consent: the room list is ready when the admin opens Rooms, and links pick up where they were."""
    connection = CalendarConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return
    try:
        discovery.refresh_calendars(connection)
    except (OutboundError, ConsentRevoked) as error:  # the Rooms page's Refresh tries again, with the reason shown
        logger.warning("room discovery after consent failed: %s", error)
    for link in CalendarLink.objects.filter(connection_id=connection_id).select_related("connection"):
        subscriptions.reconcile_link(link)
    dispatch_due_syncs.delay()


@shared_task(name="calendars.renew_subscription", ignore_result=True)
def renew_subscription(subscription_id: int) -> None:
    subscription = Subscription.objects.select_related("link__connection").filter(pk=subscription_id).first()
    if subscription is not None:
        subscriptions.renew(subscription)


@shared_task(name="calendars.resubscribe", ignore_result=True)
def resubscribe(link_id: int) -> None:
    link = CalendarLink.objects.select_related("connection").filter(pk=link_id).first()
    if link is not None:
        subscriptions.reconcile_link(link)
        dispatch_due_syncs.delay()


@shared_task(name="calendars.delete_remote_subscription", ignore_result=True, autoretry_for=(OutboundError,),
             retry_backoff=60, max_retries=5)
def delete_remote_subscription(connection_id: int, external_id: str, resource: str) -> None:
    connection = CalendarConnection.objects.filter(pk=connection_id).first()
    if connection is not None and connection.status == "active":
        provider_for(connection.provider).unsubscribe(connection, external_id, resource)
