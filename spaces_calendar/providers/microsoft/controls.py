"""Sandbox-only controls on the fake Microsoft 365: make a meeting change and deliver it as Graph would.

Kept out of the protocol-faithful fake on purpose: these routes are not Graph, live under ``/_sandbox/microsoft``
on the fake's Graph server and exist so the sandbox page can play "someone just booked, moved or cancelled a
meeting". Each change goes through the fake's own helpers (so calendarView and delta see it), then every change
subscription on that room mailbox gets a change notification POSTed to its ``notificationUrl``: our webhook is
exercised exactly as Graph would exercise it. Nothing here is authenticated: the fake listens on loopback only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse

from .fake import FakeMicrosoft
from .timezones import from_graph

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/microsoft"
DEFAULT_MINUTES = 30
MAX_MINUTES = 24 * 60


class ControlError(Exception):
    """A control request that cannot be carried out; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Delivery:
    """One change notification sent to our app: its answer's status, or the network error's name."""

    subscription_id: str
    notification_url: str
    status: int | None
    error: str = ""


# --------------------------------------------------------------------------------------------------------
# Changes
# --------------------------------------------------------------------------------------------------------


def add_meeting_now(
    fake: FakeMicrosoft, room: str, *, now: datetime, subject: str = "", minutes: int = DEFAULT_MINUTES
) -> dict[str, Any]:
    """Book ``room`` from now (floored to 5 minutes) for ``minutes``, stored in UTC as Graph answers by default."""
    room = _known_room(fake, room)
    start = now.astimezone(UTC).replace(second=0, microsecond=0, tzinfo=None)
    start -= timedelta(minutes=start.minute % 5)
    return fake.add_event(
        room,
        subject or "Ad-hoc meeting",
        start,
        start + timedelta(minutes=_minutes(minutes)),
        organizer={"emailAddress": {"name": "Sandbox User", "address": f"sandbox.user@{config.DEMO_MAIL_DOMAIN}"}},
        attendees=[_attendee("Kari Nordmann"), _attendee("Ola Nordmann")],
    )


def move_meeting(fake: FakeMicrosoft, room: str, event_id: str, minutes: int = DEFAULT_MINUTES) -> dict[str, Any]:
    """Shift a timed meeting by ``minutes`` (negative moves it earlier); a moved occurrence becomes an exception."""
    if not minutes or abs(minutes) > MAX_MINUTES:
        raise ControlError(f"minutes must be between -{MAX_MINUTES} and {MAX_MINUTES}, and not 0.")
    event = _known_event(fake, room, event_id)
    if event.get("isAllDay"):
        raise ControlError("All-day events are not moved by minutes.")
    shift = timedelta(minutes=minutes)
    changes: dict[str, Any] = {
        "start": datetime.fromisoformat(event["start"]["dateTime"]) + shift,
        "end": datetime.fromisoformat(event["end"]["dateTime"]) + shift,
    }
    if event.get("type") == "occurrence":
        changes["type"] = "exception"
    return fake.update_event(room, event_id, **changes)


def cancel_meeting(fake: FakeMicrosoft, room: str, event_id: str) -> dict[str, Any]:
    """Cancel a meeting: the room mailbox drops it, so Graph reports it deleted. Returns the meeting as it was."""
    event = _known_event(fake, room, event_id)
    fake.delete_event(room, event_id)
    return event


def notify_subscribers(fake: FakeMicrosoft, room: str, change_type: str, event_id: str) -> list[Delivery]:
    """Send the change to every subscription on the room's events; one failing endpoint does not stop the rest."""
    deliveries = []
    for subscription in _subscriptions_of(fake, room):
        try:
            status = fake.notify(room, change_type, event_id, subscription_id=subscription.id)
        except requests.RequestException as error:
            logger.warning("sandbox: notification to %s failed: %r", subscription.notification_url, error)
            deliveries.append(Delivery(subscription.id, subscription.notification_url, None, type(error).__name__))
            continue
        logger.info("sandbox: %s notification for %s answered %s", change_type, room, status)
        deliveries.append(Delivery(subscription.id, subscription.notification_url, status))
    return deliveries


# --------------------------------------------------------------------------------------------------------
# What the sandbox page shows
# --------------------------------------------------------------------------------------------------------


def snapshot(fake: FakeMicrosoft, zone: str) -> dict[str, Any]:
    """The demo tenant's rooms (Places order) with their meetings, times in ``zone`` as ISO strings."""
    tz = ZoneInfo(zone)
    # list() copies a dict in one step under the GIL, so a concurrent change cannot break the iteration.
    rooms = [room for email, room in sorted(list(fake.rooms.items())) if fake.room_tenants.get(email) == fake.tenant_id]
    subscribed = {subscription.room for subscription in list(fake.subscriptions.values())}
    return {
        "tenant_id": fake.tenant_id,
        "time_zone": zone,
        "rooms": [_room_summary(room, subscribed, fake, tz) for room in rooms],
    }


def _room_summary(room: dict[str, Any], subscribed: set[str], fake: FakeMicrosoft, tz: ZoneInfo) -> dict[str, Any]:
    email = room["emailAddress"].lower()
    events = [event for event in list(fake.events.get(email, {}).values()) if event.get("type") != "seriesMaster"]
    events.sort(key=lambda event: from_graph(event["start"]))
    return {
        "email": email,
        "display_name": room.get("displayName"),
        "capacity": room.get("capacity"),
        "building": room.get("building"),
        "floor_number": room.get("floorNumber"),
        "hidden": email in fake.hidden_rooms,
        "subscribed": email in subscribed,
        "meetings": [_meeting_summary(event, tz) for event in events],
    }


def _meeting_summary(event: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    organizer = (event.get("organizer") or {}).get("emailAddress") or {}
    return {
        "id": event["id"],
        "subject": event.get("subject"),
        "start": from_graph(event["start"]).astimezone(tz).isoformat(),
        "end": from_graph(event["end"]).astimezone(tz).isoformat(),
        "all_day": bool(event.get("isAllDay")),
        "private": str(event.get("sensitivity")).lower() in ("private", "confidential"),
        "type": event.get("type"),
        "series_master_id": event.get("seriesMasterId"),
        "organizer": organizer.get("name"),
        "attendees": len(event.get("attendees") or []),
    }


# --------------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------------


def register_controls(fake: FakeMicrosoft, *, zone: str, clock: Callable[[], datetime] | None = None) -> None:
    """Add the control routes to the fake's Graph server (outside ``/v1.0``, so no Graph client can hit them)."""
    now = clock or (lambda: datetime.now(UTC))

    def state(request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(snapshot(fake, zone))

    def add(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        minutes = _int(data.get("minutes", DEFAULT_MINUTES))
        return "created", add_meeting_now(fake, _text(data, "room"), now=now(), subject=_text(data, "subject"),
                                          minutes=minutes)

    def move(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        minutes = _int(data.get("minutes", DEFAULT_MINUTES))
        return "updated", move_meeting(fake, _text(data, "room"), _text(data, "event_id"), minutes)

    def cancel(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "deleted", cancel_meeting(fake, _text(data, "room"), _text(data, "event_id"))

    fake.graph.add_route("GET", f"{CONTROL_PREFIX}/state", state)
    for action, change in (("add", add), ("move", move), ("cancel", cancel)):
        fake.graph.add_route("POST", f"{CONTROL_PREFIX}/meetings/{action}", _change_route(fake, zone, change))


Change = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


def _change_route(fake: FakeMicrosoft, zone: str, change: Change) -> Callable[[FakeRequest], FakeResponse]:
    """A route that makes one change, then notifies the room's subscribers and reports both."""

    def handle(request: FakeRequest) -> FakeResponse:
        try:
            data = request.json()
            if not isinstance(data, dict):
                raise ControlError("Send a JSON object.")
            change_type, event = change(data)
        except ValueError:
            return FakeResponse.json({"error": "Send a JSON object."}, 400)
        except ControlError as error:
            return FakeResponse.json({"error": str(error)}, error.status)
        room = _text(data, "room").lower()
        deliveries = notify_subscribers(fake, room, change_type, event["id"])
        body = {
            "change_type": change_type,
            "room": room,
            "meeting": _meeting_summary(event, ZoneInfo(zone)),
            "notifications": [asdict(delivery) for delivery in deliveries],
        }
        return FakeResponse.json(body, 201 if change_type == "created" else 200)

    return handle


def _known_room(fake: FakeMicrosoft, room: str) -> str:
    email = room.strip().lower()
    if email not in fake.rooms:
        raise ControlError(f"No room mailbox {room!r} in the fake tenant.", 404)
    return email


def _known_event(fake: FakeMicrosoft, room: str, event_id: str) -> dict[str, Any]:
    event = fake.events.get(_known_room(fake, room), {}).get(event_id)
    if event is None:
        raise ControlError(f"No meeting {event_id!r} in {room}.", 404)
    return dict(event)


def _subscriptions_of(fake: FakeMicrosoft, room: str) -> list[Any]:
    return [sub for sub in list(fake.subscriptions.values()) if sub.room == room.lower()]


def _minutes(minutes: int) -> int:
    if not 1 <= minutes <= MAX_MINUTES:
        raise ControlError(f"minutes must be between 1 and {MAX_MINUTES}.")
    return minutes


def _text(data: dict[str, Any], name: str) -> str:
    return str(data.get(name) or "").strip()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"Expected a whole number of minutes, not {value!r}.") from None


def _attendee(name: str) -> dict[str, Any]:
    address = f"{name.lower().replace(' ', '.')}@{config.DEMO_MAIL_DOMAIN}"
    return {"type": "required", "status": {"response": "accepted"}, "emailAddress": {"name": name, "address": address}}
