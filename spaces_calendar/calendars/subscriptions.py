"""Change subscriptions, one per linked room: create, renew before expiry, recreate when gone, delete on unlink.

Creating one is not idempotent at the provider, so :func:`reconcile_link` is: it creates only when the link has
no live subscription and deletes extras, so a duplicate task or a retry after a timeout converges to exactly one.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from spaces_calendar.core.http import OutboundError
from spaces_calendar.providers.errors import ConsentRevoked

from .connections import mark_needs_consent
from .models import CalendarConnection, CalendarLink, ConnectionStatus, Subscription
from .remote import provider_for
from .sync import request_sync

logger = logging.getLogger(__name__)


@dataclass
class MaintenanceReport:
    created: int = 0
    renewed: int = 0
    recreated: int = 0
    removed: int = 0
    failed: int = 0


def _expiry(lifetime_s: float):
    return timezone.now() + timedelta(seconds=lifetime_s)


def reconcile_link(link: CalendarLink, report: MaintenanceReport | None = None) -> Subscription | None:
    """Make sure ``link`` has exactly one live subscription; returns it (None when subscriptions are off or the
    provider refused)."""
    report = report or MaintenanceReport()
    connection = link.connection
    if not settings.CALENDAR_SUBSCRIPTIONS or connection.status != ConnectionStatus.ACTIVE:
        return None
    provider = provider_for(connection.provider)
    live = list(link.subscriptions.filter(expires_at__gt=timezone.now()).order_by("-expires_at"))
    for extra in live[1:]:
        drop_subscription(extra)
        report.removed += 1
    if live:
        return live[0]
    link.subscriptions.all().delete()  # expired rows: the provider has forgotten them already
    client_state = secrets.token_urlsafe(48)
    try:
        remote = provider.subscribe(connection, link, client_state, _expiry(provider.max_subscription_lifetime_s))
    except ConsentRevoked as error:
        mark_needs_consent(connection, error.reason, error.description)
        return None
    except OutboundError as error:
        logger.warning("could not subscribe to %s: %s", link.external_calendar_id, error)
        report.failed += 1
        CalendarLink.objects.filter(pk=link.pk).update(last_error=f"subscription: {error}"[:1000])
        return None
    report.created += 1
    logger.info("subscribed to changes of %s (%s)", link.external_calendar_id, remote.external_id)
    return Subscription.objects.create(link=link, external_id=remote.external_id, resource=remote.resource,
                                       client_state=client_state, expires_at=remote.expires_at)


def renew(subscription: Subscription, report: MaintenanceReport | None = None) -> Subscription | None:
    """Extend a subscription (also Graph's answer to ``reauthorizationRequired``); recreate it, and resync the
    room, when the provider no longer has it."""
    report = report or MaintenanceReport()
    link = subscription.link
    connection = link.connection
    if connection.status != ConnectionStatus.ACTIVE:
        return None
    provider = provider_for(connection.provider)
    try:
        expires = provider.renew(connection, subscription, _expiry(provider.max_subscription_lifetime_s))
    except ConsentRevoked as error:
        mark_needs_consent(connection, error.reason, error.description)
        return None
    except OutboundError as error:
        logger.warning("could not renew subscription %s: %s", subscription.external_id, error)
        report.failed += 1
        return subscription
    if expires is None:
        logger.info("subscription %s is gone at the provider: recreating", subscription.external_id)
        subscription.delete()
        request_sync([link.pk], delay_s=0, full=True)  # changes since it vanished were never notified
        report.recreated += 1
        return reconcile_link(link, report)
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=expires)
    subscription.expires_at = expires
    report.renewed += 1
    return subscription


def drop_subscription(subscription: Subscription) -> None:
    """Delete at the provider (best effort) and here."""
    connection = subscription.link.connection
    try:
        provider_for(connection.provider).unsubscribe(connection, subscription.external_id, subscription.resource)
    except (OutboundError, ConsentRevoked) as error:
        logger.warning("could not delete subscription %s: %s", subscription.external_id, error)
    subscription.delete()


def maintain(now=None) -> MaintenanceReport:
    """The periodic pass: subscribe links that have none, renew the ones expiring soon."""
    report = MaintenanceReport()
    if not settings.CALENDAR_SUBSCRIPTIONS:
        return report
    now = now or timezone.now()
    active = CalendarConnection.objects.filter(status=ConnectionStatus.ACTIVE)
    renew_by = now + timedelta(seconds=settings.CALENDAR_SUBSCRIPTION_RENEW_BEFORE_S)
    for subscription in (Subscription.objects.filter(link__connection__in=active, expires_at__gt=now,
                                                     expires_at__lte=renew_by)
                         .select_related("link__connection")):
        renew(subscription, report)
    bare = CalendarLink.objects.filter(connection__in=active).exclude(
        Q(subscriptions__expires_at__gt=now)).select_related("connection").distinct()
    for link in bare:
        reconcile_link(link, report)
    if report.failed or report.created or report.renewed:
        logger.info("subscriptions: %s", report)
    return report
