"""The demo tenant as the fake Microsoft 365 holds it: Places rooms and two realistic office days of meetings.

The rooms are the ones :mod:`spaces_calendar.sandbox.seed` creates in our database (same addresses), so linking
them is a click. Meetings are planned in Oslo office hours and stored the way Graph answers by default (UTC),
with the usual variety: back-to-back bookings, a private meeting, an all-day booking, a subject rewritten by the
room mailbox, and a daily series whose occurrences point at their (hidden) series master.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.seed import DEMO_ROOMS

from .fake import FakeMicrosoft

BUILDING = "Demo HQ"
#: A room that exists as a mailbox but not in Places (hidden from the address list): "add room by email".
HIDDEN_ROOM = ("Vault", 4, 2)

PEOPLE = [
    "Ingrid Berg", "Lars Hansen", "Kari Nordmann", "Ola Nordmann", "Sofie Johansen", "Magnus Larsen",
    "Nora Andersen", "Jonas Pedersen", "Emma Nilsen", "Henrik Kristiansen",
]  # fmt: skip


@dataclass(frozen=True)
class Meeting:
    """One planned meeting: local start ("HH:MM") in the demo time zone, or all day when ``minutes`` is 0."""

    room: str
    subject: str
    start: str
    minutes: int
    attendees: int = 3
    #: 0 = today, 1 = tomorrow.
    days: tuple[int, ...] = (0, 1)
    fields: dict[str, Any] = field(default_factory=dict)


DAY_PLAN = [
    Meeting("Fjord", "Quarterly planning", "09:00", 60, attendees=10),
    Meeting("Fjord", "Design review", "10:00", 60, attendees=7),  # back-to-back with the planning
    Meeting("Fjord", "Customer call: Nordlys AS", "13:00", 45, attendees=5, days=(0,)),
    Meeting("Fjord", "Architecture forum", "14:00", 60, attendees=9, days=(1,)),
    Meeting("Glacier", "Interview", "10:30", 60, attendees=3, fields={"sensitivity": "private"}),
    Meeting("Glacier", "Sprint planning", "14:00", 60, attendees=6),
    Meeting("Harbour", "1:1 Ingrid / Lars", "09:00", 30, attendees=2),
    Meeting("Harbour", "1:1 Ingrid / Sofie", "09:30", 30, attendees=2),  # back-to-back
    Meeting("Harbour", "1:1 Ingrid / Jonas", "10:00", 30, attendees=2, days=(0,)),
    Meeting("Aurora", "Board offsite preparation", "00:00", 0, attendees=6, days=(0,)),
    Meeting("Aurora", "Sales kick-off rehearsal", "13:00", 60, attendees=8, days=(1,)),
    # Room mailboxes often replace the subject with the organiser's name.
    Meeting("Birch", "Nora Andersen", "12:00", 45, attendees=4, fields={"organizer_name": "Nora Andersen"}),
    Meeting("Cedar", "Phone interview", "11:00", 30, attendees=1),
    Meeting("Delta", "Town hall", "15:00", 60, attendees=18, days=(0,)),
    Meeting("Delta", "Training: security basics", "09:00", 60, attendees=15, days=(1,)),
    Meeting("Ember", "Retrospective", "15:30", 45, attendees=6),
    Meeting("Vault", "Audit committee", "10:00", 60, attendees=4, fields={"sensitivity": "private"}),
]
SERIES = Meeting("Ember", "Team standup", "09:00", 30, attendees=6)


def room_email(name: str) -> str:
    """The demo mailbox address, as the seed gives our demo rooms."""
    return f"{name.lower()}@{config.DEMO_MAIL_DOMAIN}"


def add_demo_rooms(fake: FakeMicrosoft) -> None:
    for (_, level), rooms in DEMO_ROOMS.items():
        for name, capacity in rooms:
            fake.add_room(room_email(name), name, capacity, **_place_fields(level))
    name, capacity, level = HIDDEN_ROOM
    fake.add_room(room_email(name), name, capacity, hidden=True, **_place_fields(level))


def add_demo_meetings(fake: FakeMicrosoft, today: date) -> int:
    """Add today's and tomorrow's meetings (``today`` in the demo time zone); return how many were added."""
    people = itertools.cycle(PEOPLE)
    added = 0
    for offset in (0, 1):
        day = today + timedelta(days=offset)
        for meeting in DAY_PLAN:
            if offset in meeting.days:
                _add(fake, meeting, day, next(people))
                added += 1
    return added + _add_series(fake, SERIES, today)


def _place_fields(level: int) -> dict[str, Any]:
    return {"building": BUILDING, "floorNumber": level, "floorLabel": f"Floor {level}",
            "address": {"street": "1 Sandbox Street", "city": "Oslo", "countryOrRegion": "Norway"}}


def _add(fake: FakeMicrosoft, meeting: Meeting, day: date, organizer: str, **extra: Any) -> dict[str, Any]:
    key = (meeting.room, meeting.subject, day, extra.get("type"))
    fields: dict[str, Any] = {
        "id": "AAMkAD" + base64.urlsafe_b64encode(_digest(*key)).decode().rstrip("=") + "=",
        "iCalUId": "040000008200E00074C5B7101A82E008" + _digest(*key).hex()[:48].upper(),
        "isAllDay": meeting.minutes == 0,
        "organizer": _person(organizer),
        "attendees": [_attendee(name) for name in itertools.islice(itertools.cycle(PEOPLE), meeting.attendees)],
        "location": {"displayName": meeting.room, "locationType": "conferenceRoom"},
        **meeting.fields,
        **extra,
    }
    if "organizer_name" in fields:
        fields["organizer"] = _person(fields.pop("organizer_name"))
    start, end, time_zone = _times(meeting, day)
    return fake.add_event(room_email(meeting.room), meeting.subject, start, end, time_zone=time_zone, **fields)


def _add_series(fake: FakeMicrosoft, meeting: Meeting, today: date) -> int:
    """A daily series: its master (never in calendarView) and today's and tomorrow's occurrences."""
    master = _add(fake, meeting, today, "Lars Hansen", type="seriesMaster", recurrence={
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "noEnd", "startDate": today.isoformat(), "recurrenceTimeZone": "W. Europe Standard Time"},
    })
    for offset in (0, 1):
        _add(fake, meeting, today + timedelta(days=offset), "Lars Hansen", type="occurrence",
             seriesMasterId=master["id"], iCalUId=master["iCalUId"])
    return 3


def _digest(*parts: object) -> bytes:
    """Stable ids: the same meeting on the same day keeps its id when the sandbox restarts, as it would in Graph."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


def _times(meeting: Meeting, day: date) -> tuple[datetime, datetime, str]:
    """Naive start and end plus Graph's ``timeZone``: UTC for timed meetings, local midnights for all-day ones."""
    if meeting.minutes == 0:
        midnight = datetime.combine(day, time())
        return midnight, midnight + timedelta(days=1), "UTC"
    local = datetime.combine(day, time.fromisoformat(meeting.start), tzinfo=ZoneInfo(config.TIME_ZONE))
    start = local.astimezone(UTC).replace(tzinfo=None)
    return start, start + timedelta(minutes=meeting.minutes), "UTC"


def _person(name: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": f"{name.lower().replace(' ', '.')}@{config.DEMO_MAIL_DOMAIN}"}}


def _attendee(name: str) -> dict[str, Any]:
    return {"type": "required", "status": {"response": "accepted"}, **_person(name)}
