"""Graph's calls to us: the validation handshake, change notifications and lifecycle notifications.

Graph wants an answer within 3 s (slow endpoints get throttled, then dropped), so these views only read, parse and
answer; ``intake`` verifies and records: a notification makes its room due for a sync a few seconds later
(notifications for one room in that time become one sync, ``calendars/change_hints.py``), and the sync itself runs
in Celery. Each item is checked on its own: an unknown subscription or a wrong ``clientState`` drops that item,
never the whole batch, and a batch is logged in one line with its counts. A body over ``MAX_BODY_BYTES`` is refused
unread (413), a batch over ``MAX_ITEMS`` items or with a malformed item whole (400).
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from spaces_calendar.calendars.models import ValidationWindow

from . import intake
from .notifications import (
    MAX_BODY_BYTES,
    MalformedNotification,
    parse_change_notifications,
    parse_lifecycle_notifications,
    validation_token,
)

logger = logging.getLogger(__name__)


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


def _parse(request: HttpRequest, parser: Callable[[bytes], list]) -> list | JsonResponse:
    # Refused before it is read: the bound on a request's work starts with the bound on what it may send.
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        logger.warning("graph notification refused: body of %d bytes is too large (at most %d)", length,
                       MAX_BODY_BYTES)
        return _refuse(413, f"body too large: at most {MAX_BODY_BYTES} bytes")
    try:
        return parser(request.body)
    except MalformedNotification as error:
        logger.warning("malformed graph notification refused: %s", error)
        return _refuse(400, str(error))


def _answer(screened: intake.Screened) -> HttpResponse:
    # All items forged: tell the sender no. Unknown subscriptions get 202 (Graph's contract: acknowledge, and we
    # simply never act on them) so a subscription we deleted does not get our endpoint flagged as failing.
    if screened.refused_all:
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
    return _answer(intake.accept_changes(items))


@csrf_exempt
@require_POST
def lifecycle(request: HttpRequest) -> HttpResponse:
    handshake = _handshake(request)
    if handshake is not None:
        return handshake
    items = _parse(request, parse_lifecycle_notifications)
    if isinstance(items, HttpResponse):
        return items
    return _answer(intake.accept_lifecycle(items))
