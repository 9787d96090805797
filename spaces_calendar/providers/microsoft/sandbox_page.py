"""Microsoft 365's part of the sandbox page: the fake tenant's rooms and meetings, and buttons that book, move or
cancel one, carried out by the fake's ``/_sandbox/microsoft`` controls (:mod:`.controls`), which then notify our
webhook as Graph would.

Goes through the outbound seam like any provider call (timeouts, the sandbox CA through ``OUTBOUND_CA_BUNDLE``).
The controls sit on the fake's Graph host, beside ``/v1.0``, so their address follows ``MICROSOFT_GRAPH_URL``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from spaces_calendar.core import http
from spaces_calendar.core.http import OutboundError
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.views import demo_admin_only

from .controls import CONTROL_PREFIX

SUMMARY_TEMPLATE = "sandbox/microsoft_summary.html"
TEMPLATE = "sandbox/microsoft.html"


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


class ControlRefused(Exception):
    """The fake understood the request but would not do it (unknown room or meeting, bad minutes)."""


# --- The page ---------------------------------------------------------------------------------------------------

def page_context(request: HttpRequest) -> dict[str, Any]:
    rooms, problem = [], ""
    try:
        rooms = fetch_rooms()
    except OutboundError as error:
        problem = f"The fake Microsoft 365 did not answer ({error.kind}). Is the sandbox process running?"
    return {"rooms": rooms, "problem": problem, "login_url": settings.MICROSOFT_LOGIN_URL,
            "graph_url": settings.MICROSOFT_GRAPH_URL, "tenant_id": config.MICROSOFT_TENANT_ID}


CHANGES = {
    "add": lambda form: add_meeting(form["room"], subject=form.get("subject", "")),
    "move": lambda form: move_meeting(form["room"], form["event_id"], int(form.get("minutes", 30))),
    "cancel": lambda form: cancel_meeting(form["room"], form["event_id"]),
}


@demo_admin_only
@require_POST
def change_meeting(request: HttpRequest, action: str) -> HttpResponse:
    if action not in CHANGES or not request.POST.get("room"):
        raise Http404("Unknown sandbox action.")
    try:
        result = CHANGES[action](request.POST)
    except (KeyError, ValueError):
        messages.error(request, "That form was incomplete.")
    except ControlRefused as refusal:
        messages.error(request, f"The fake Microsoft 365 refused: {refusal}")
    except OutboundError as error:
        messages.error(request, f"The fake Microsoft 365 did not answer ({error.kind}).")
    else:
        messages.success(request, describe(result))
    return redirect("sandbox")


def describe(result: ChangeResult) -> str:
    """One sentence for the admin: what changed and whether our webhook heard about it."""
    meeting = result.meeting
    what = {"created": "Booked", "updated": "Moved", "deleted": "Cancelled"}[result.change_type]
    local = f"{meeting.start.strftime('%a %H:%M')}–{meeting.end.strftime('%H:%M')}"
    text = f"{what} “{meeting.subject or 'meeting'}” ({local})."
    if not result.notifications:
        return text + " No change subscription on that room yet, so no notification was sent: link the room first."
    answers = ", ".join(str(status) if status is not None else error for status, error in result.notifications)
    return text + f" Graph notified our webhook; it answered {answers}."


#: Included under ``sandbox/`` by the generic sandbox URLconf.
urlpatterns = [
    path("microsoft/meetings/<slug:action>", change_meeting, name="sandbox-meeting"),
]


# --- The fake's controls ----------------------------------------------------------------------------------------

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
