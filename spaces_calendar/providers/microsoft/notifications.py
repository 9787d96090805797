"""Pure parsing of what Graph POSTs to us: change notifications, lifecycle notifications, validation requests.

No I/O here: the webhook view verifies and parses with these functions, records, enqueues and answers 202.
Shapes follow Microsoft's published payloads: notification times end in ``Z`` with 3 digits, lifecycle times
in ``+00:00`` with 7 digits, ``resourceData.@odata.type`` is capitalised (``#Microsoft.Graph.Event``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from .timezones import parse_instant

#: The largest body we read. Graph batches a few notifications per request (a basic notification is under 1 KB);
#: a bigger body is refused unread (413), so no request can make us parse more than this within Graph's 3 s.
MAX_BODY_BYTES = 1 << 20
#: The most items one batch may hold (about 700 KB of basic notifications); more is refused whole (400).
MAX_ITEMS = 1000
# Text we would have to store, compare or log: NUL (PostgreSQL text cannot hold it) and lone surrogates
# (not encodable, so neither comparable as bytes nor storable) make an item malformed.
_UNUSABLE = re.compile(r"[\x00\ud800-\udfff]")


class MalformedNotification(ValueError):
    """The body is not JSON, not a ``{"value": [...]}`` batch of at most :data:`MAX_ITEMS`, or an item lacks a
    required field or has one of the wrong type or with unusable text."""


@dataclass(frozen=True)
class ChangeNotification:
    """One item of a change notification (https://learn.microsoft.com/graph/api/resources/changenotification)."""

    subscription_id: str
    change_type: str
    resource: str
    client_state: str
    tenant_id: str
    subscription_expires_at: datetime | None
    #: ``resourceData.id``: the changed event's id (a hint; we resync the room anyway).
    resource_id: str
    resource_type: str


@dataclass(frozen=True)
class LifecycleNotification:
    """One lifecycle notification (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)."""

    subscription_id: str
    lifecycle_event: str
    client_state: str
    tenant_id: str
    subscription_expires_at: datetime | None


def parse_change_notifications(body: bytes) -> list[ChangeNotification]:
    """Parse a change-notification POST body (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks)."""
    return [_change(item) for item in _items(body)]


def parse_lifecycle_notifications(body: bytes) -> list[LifecycleNotification]:
    """Parse a lifecycle-notification POST body (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)."""
    return [_lifecycle(item) for item in _items(body)]


def validation_token(query: Mapping[str, Any] | str) -> str | None:
    """The decoded ``validationToken`` of a validation request, else None (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-validation)."""
    if isinstance(query, str):
        query = parse_qs(query.lstrip("?"), keep_blank_values=True)
    value = query.get("validationToken")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def client_state_matches(expected: str, received: str | None) -> bool:
    """Compare a notification's ``clientState`` with ours in constant time."""
    if not expected or received is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


def _items(body: bytes) -> list[dict[str, Any]]:
    # orjson, not json: it refuses nesting deeper than 1,024 (json recurses until RecursionError), invalid UTF-8,
    # lone surrogate escapes, NaN and numbers out of range, all as one error type.
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedNotification(f"body is not JSON: {error}") from None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedNotification('body is not a {"value": [...]} list of objects')
    if len(items) > MAX_ITEMS:
        raise MalformedNotification(f"a batch of {len(items)} items: at most {MAX_ITEMS} are accepted")
    return items


def _text(item: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise MalformedNotification(f"notification item lacks {name!r}")
        return ""
    if not isinstance(value, str) or not value:
        raise MalformedNotification(f"notification item's {name!r} is not a string")
    if _UNUSABLE.search(value):
        raise MalformedNotification(f"notification item's {name!r} holds a NUL byte or a lone surrogate")
    return value


def _change(item: dict[str, Any]) -> ChangeNotification:
    data = item.get("resourceData")
    if data is not None and not isinstance(data, dict):
        raise MalformedNotification("notification item's 'resourceData' is not an object")
    data = data or {}
    return ChangeNotification(
        subscription_id=_text(item, "subscriptionId", required=True),
        change_type=_text(item, "changeType", required=True),
        resource=_text(item, "resource", required=True),
        client_state=_text(item, "clientState"),
        tenant_id=_text(item, "tenantId"),
        subscription_expires_at=_parse_time(item.get("subscriptionExpirationDateTime")),
        resource_id=_text(data, "id"),
        resource_type=_text(data, "@odata.type"),
    )


def _lifecycle(item: dict[str, Any]) -> LifecycleNotification:
    return LifecycleNotification(
        subscription_id=_text(item, "subscriptionId", required=True),
        lifecycle_event=_text(item, "lifecycleEvent", required=True),
        client_state=_text(item, "clientState"),
        tenant_id=_text(item, "tenantId"),
        subscription_expires_at=_parse_time(item.get("subscriptionExpirationDateTime")),
    )


def _parse_time(value: Any) -> datetime | None:
    """``2016-03-19T22:11:09.952Z`` or ``2019-09-18T00:52:45.9696658+00:00`` as aware UTC; None if absent."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedNotification("subscriptionExpirationDateTime is not a string")
    try:
        return parse_instant(value)
    except ValueError:
        raise MalformedNotification(f"unreadable subscriptionExpirationDateTime {ascii(value[:40])}") from None
