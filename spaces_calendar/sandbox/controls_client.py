"""The app's side of the sandbox controls: ask the fake Microsoft 365 to show or change the demo calendars, and the
fake Cisco Spaces for an activation token.

Goes through the outbound seam like any provider call (timeouts, the sandbox CA through ``OUTBOUND_CA_BUNDLE``).
The Microsoft controls sit on the fake's Graph host, beside ``/v1.0``, so their address follows
``MICROSOFT_GRAPH_URL``; the Spaces controls are on ``SANDBOX_SPACES_URL``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from spaces_calendar.core import http
from spaces_calendar.sandbox import spaces_controls
from spaces_calendar.sandbox.microsoft_controls import CONTROL_PREFIX


@dataclass(frozen=True)
class Meeting:
    id: str
    subject: str
    start: datetime
    end: datetime
    all_day: bool
    private: bool
    recurring: bool
    organizer: str
    attendees: int


@dataclass(frozen=True)
class FakeRoom:
    email: str
    display_name: str
    capacity: int | str | None
    floor_number: int | None
    hidden: bool
    subscribed: bool
    meetings: list[Meeting]


@dataclass(frozen=True)
class ChangeResult:
    """What a control call did: the change type Graph announced and each notification our webhook answered."""

    change_type: str
    meeting: Meeting
    #: (HTTP status or None, error name) per subscription on the room.
    notifications: list[tuple[int | None, str]]


@dataclass(frozen=True)
class SpacesToken:
    token: str
    expires_in: int
    #: The fake's base URL, which the token names: where the activation and the Firehose go.
    base_url: str


@dataclass(frozen=True)
class SpacesState:
    base_url: str
    app_id: str
    spaces_tenant_id: str
    #: Events the fake Firehose holds (the last hours it replays, changes as they are published).
    events: int
    #: Stream connections made so far (one per receiver start or reconnect).
    connections: int
    active_keys: int


class ControlRefused(Exception):
    """The fake understood the request but would not do it (unknown room or meeting, bad minutes)."""


def control_url(action: str) -> str:
    parts = urlsplit(settings.MICROSOFT_GRAPH_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"{CONTROL_PREFIX}/{action}", "", ""))


def fetch_rooms() -> list[FakeRoom]:
    """The fake tenant's rooms and meetings. Raises the seam's ``OutboundError`` when the fake does not answer."""
    state = http.send(http.build_session(), "GET", control_url("state"), max_retries=0).json()
    return [_room(item) for item in state["rooms"]]


def add_meeting(room: str, minutes: int = 30, subject: str = "") -> ChangeResult:
    return _change("add", {"room": room, "minutes": minutes, "subject": subject})


def move_meeting(room: str, event_id: str, minutes: int = 30) -> ChangeResult:
    return _change("move", {"room": room, "event_id": event_id, "minutes": minutes})


def cancel_meeting(room: str, event_id: str) -> ChangeResult:
    return _change("cancel", {"room": room, "event_id": event_id})


def issue_spaces_token() -> SpacesToken:
    """A fresh activation token, as an admin generates one in Cisco Spaces. Not retried: each call makes one."""
    body = http.send(http.build_session(), "POST", _spaces_url("activation-token"), max_retries=0).json()
    return SpacesToken(str(body["token"]), int(body["expires_in"]), str(body["base_url"]))


def fetch_spaces_state() -> SpacesState:
    body = http.send(http.build_session(), "GET", _spaces_url("state"), max_retries=0).json()
    return SpacesState(str(body["base_url"]), str(body["app_id"]), str(body["spaces_tenant_id"]), int(body["events"]),
                       int(body["connections"]), int(body["active_keys"]))


def _spaces_url(action: str) -> str:
    return f"{settings.SANDBOX_SPACES_URL.rstrip('/')}{spaces_controls.CONTROL_PREFIX}/{action}"


def _change(action: str, payload: dict[str, Any]) -> ChangeResult:
    # Not retried: a repeated "add" would book the room twice.
    try:
        body = http.send(http.build_session(), "POST", control_url(f"meetings/{action}"), json=payload).json()
    except http.PermanentError as error:
        if error.status in (400, 404):
            raise ControlRefused(_reason(error.body_excerpt)) from None
        raise
    return ChangeResult(
        body["change_type"],
        _meeting(body["meeting"]),
        [(item["status"], item["error"]) for item in body["notifications"]],
    )


def _reason(body: str) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body or "no reason given"


def _room(item: dict[str, Any]) -> FakeRoom:
    return FakeRoom(
        email=item["email"],
        display_name=item.get("display_name") or item["email"],
        capacity=item.get("capacity"),
        floor_number=item.get("floor_number"),
        hidden=bool(item.get("hidden")),
        subscribed=bool(item.get("subscribed")),
        meetings=[_meeting(meeting) for meeting in item.get("meetings", [])],
    )


def _meeting(item: dict[str, Any]) -> Meeting:
    return Meeting(
        id=item["id"],
        subject=item.get("subject") or "",
        start=datetime.fromisoformat(item["start"]),
        end=datetime.fromisoformat(item["end"]),
        all_day=bool(item.get("all_day")),
        private=bool(item.get("private")),
        recurring=bool(item.get("series_master_id")),
        organizer=item.get("organizer") or "",
        attendees=int(item.get("attendees") or 0),
    )
