"""Graph's calls to us: the validation handshake, change notifications and lifecycle notifications.

Graph wants an answer within 3 s (slow endpoints get throttled, then dropped), so these views only verify, record
and enqueue: a notification makes its room due for a sync a few seconds later (notifications for one room in that
time become one sync), and the sync itself runs in Celery. Each item is checked on its own: an unknown
subscription or a wrong ``clientState`` drops that item (logged), never the whole batch.
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from spaces_calendar.calendars import tasks
from spaces_calendar.calendars.models import ConnectionStatus, Provider, Subscription, ValidationWindow
from spaces_calendar.calendars.sync import request_sync

from .notifications import (
    MalformedNotification,
    client_state_matches,
    parse_change_notifications,
    parse_lifecycle_notifications,
    validation_token,
)

logger = logging.getLogger(__name__)


@dataclass
class Screened:
    accepted: list[tuple[Subscription, object]] = field(default_factory=list)
    unknown: int = 0
    forged: int = 0


def _screen(items: list) -> Screened:
    """Match each item to our subscription and its secret; the rest are counted and logged, never acted on."""
    screened = Screened()
    ids = {item.subscription_id for item in items}
    known = {sub.external_id: sub for sub in Subscription.objects.filter(
        external_id__in=ids, link__connection__provider=Provider.MICROSOFT).select_related("link__connection")}
    for item in items:
        subscription = known.get(item.subscription_id)
        if subscription is None:
            screened.unknown += 1
            logger.warning("graph notification for unknown subscription %s dropped", item.subscription_id)
            continue
        connection = subscription.link.connection
        if not client_state_matches(subscription.client_state, item.client_state) or (
            item.tenant_id and item.tenant_id.lower() != connection.external_tenant_id.lower()
        ):
            screened.forged += 1
            logger.warning("graph notification for subscription %s refused: clientState or tenant mismatch",
                           item.subscription_id)
            continue
        if connection.status != ConnectionStatus.ACTIVE:
            screened.unknown += 1
            continue
        screened.accepted.append((subscription, item))
    return screened


def _handshake(request: HttpRequest) -> HttpResponse | None:
    token = validation_token(request.GET)
    if token is None:
        return None
    # The handshake names no subscription: answer only while we are creating one, so the endpoint is no
    # general-purpose echo.
    if not ValidationWindow.objects.filter(expires_at__gt=timezone.now()).exists():
        logger.warning("graph validation request refused: no subscription is being created")
        return _refuse(403, "no subscription is being created")
    return HttpResponse(token, content_type="text/plain; charset=utf-8")


def _refuse(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _parse(request: HttpRequest, parser):  # -> list | JsonResponse
    try:
        return parser(request.body)
    except MalformedNotification as error:
        logger.warning("malformed graph notification refused: %s", error)
        return _refuse(400, str(error))


def _answer(screened: Screened) -> HttpResponse:
    # All items forged: tell the sender no. Unknown subscriptions get 202 (Graph's contract: acknowledge, and we
    # simply never act on them) so a subscription we deleted does not get our endpoint flagged as failing.
    if screened.forged and not screened.accepted:
        return _refuse(403, "clientState mismatch")
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def notifications(request: HttpRequest) -> HttpResponse:
    handshake = _handshake(request)
    if handshake is not None:
        return handshake
    items = _parse(request, parse_change_notifications)
    if isinstance(items, HttpResponse):
        return items
    screened = _screen(items)
    link_ids = sorted({subscription.link_id for subscription, _ in screened.accepted})
    if link_ids:
        request_sync(link_ids)
        _enqueue(tasks.dispatch_due_syncs, countdown=settings.CALENDAR_NOTIFICATION_DEBOUNCE_S)
        logger.info("graph notifications: %d accepted for %d room(s)", len(screened.accepted), len(link_ids))
    return _answer(screened)


@csrf_exempt
@require_POST
def lifecycle(request: HttpRequest) -> HttpResponse:
    handshake = _handshake(request)
    if handshake is not None:
        return handshake
    items = _parse(request, parse_lifecycle_notifications)
    if isinstance(items, HttpResponse):
        return items
    screened = _screen(items)
    for subscription, item in screened.accepted:
        event = item.lifecycle_event
        logger.info("graph lifecycle %s for subscription %s", event, subscription.external_id)
        if event == "reauthorizationRequired":
            _enqueue(tasks.renew_subscription, subscription.pk)
        elif event == "subscriptionRemoved":
            link_id = subscription.link_id
            subscription.delete()
            request_sync([link_id], delay_s=0, full=True)
            _enqueue(tasks.resubscribe, link_id)
        elif event == "missed":
            request_sync([subscription.link_id], delay_s=0, full=True)
            _enqueue(tasks.dispatch_due_syncs)
        else:
            logger.warning("unknown graph lifecycle event %r ignored", event)
    return _answer(screened)


def _enqueue(task, *args, countdown: float | None = None) -> None:
    """The change is already recorded (the link is due); if the broker is briefly down, beat's next dispatch
    picks it up, so a failed enqueue must not turn into a 500 that makes Graph retry."""
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception:  # noqa: BLE001 - any broker failure; logged with its traceback
        logger.exception("could not enqueue %s; the periodic dispatch will pick the change up", task.name)
