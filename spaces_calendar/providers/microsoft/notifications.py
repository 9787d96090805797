"""Pure parsing of what Graph POSTs to us: change notifications, lifecycle notifications, validation requests.

No I/O here: the webhook view verifies and parses with these functions, records, enqueues and answers 202.
Shapes follow Microsoft's published payloads: notification times end in ``Z`` with 3 digits, lifecycle times
in ``+00:00`` with 7 digits, ``resourceData.@odata.type`` is capitalised (``#Microsoft.Graph.Event``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from .timezones import parse_instant


class MalformedNotification(ValueError):
    """The body is not JSON, not a ``{"value": [...]}`` batch, or an item lacks a required field."""


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
    try:
        payload = json.loads(body.decode("utf-8") if isinstance(body, bytes | bytearray) else body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedNotification(f"body is not JSON: {error}") from None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedNotification('body is not a {"value": [...]} list of objects')
    return items


def _required(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedNotification(f"notification item lacks {name!r}")
    return value


def _change(item: dict[str, Any]) -> ChangeNotification:
    data = item.get("resourceData") if isinstance(item.get("resourceData"), dict) else {}
    return ChangeNotification(
        subscription_id=_required(item, "subscriptionId"),
        change_type=_required(item, "changeType"),
        resource=_required(item, "resource"),
        client_state=str(item.get("clientState") or ""),
        tenant_id=str(item.get("tenantId") or ""),
        subscription_expires_at=_parse_time(item.get("subscriptionExpirationDateTime")),
        resource_id=str(data.get("id") or ""),
        resource_type=str(data.get("@odata.type") or ""),
    )


def _lifecycle(item: dict[str, Any]) -> LifecycleNotification:
    return LifecycleNotification(
        subscription_id=_required(item, "subscriptionId"),
        lifecycle_event=_required(item, "lifecycleEvent"),
        client_state=str(item.get("clientState") or ""),
        tenant_id=str(item.get("tenantId") or ""),
        subscription_expires_at=_parse_time(item.get("subscriptionExpirationDateTime")),
    )


def _parse_time(value: Any) -> datetime | None:
    """``2016-03-19T22:11:09.952Z`` or ``2019-09-18T00:52:45.9696658+00:00`` as aware UTC; None if absent."""
    if value in (None, ""):
        return None
    try:
        return parse_instant(str(value))
    except ValueError:
        raise MalformedNotification(f"unreadable subscriptionExpirationDateTime {value!r}") from None
