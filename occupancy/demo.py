"""A few weeks of believable history for the sandbox's demo tenant, so the reports mean something on first run.

The patterns a facility team would recognise:

* **Glacier, "Weekly team sync"** (Mondays 10:00): nobody has come for the last four weeks: a zombie series.
* **Fjord, "Quarterly planning prep"** (Fridays 14:00): booked for 10 people, nobody comes: Friday-afternoon ghosts.
* **Delta** (20 seats): busy but with 2-4 people: a capacity misfit.
* **Harbour 1:1s**: often start 15 minutes late.
* **Aurora**: long meetings that end early.
* **Birch**: used without a booking around lunch (unbooked occupancy).
* one day with a sensor outage in Ember (unknown, never counted as a ghost).

Everything is deterministic (seeded), written once (bookings carry the ``demo-history-`` prefix), and then run
through the same pipeline as live data: signals → spans → outcomes → daily aggregates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from spaces_calendar.calendars.bookings import organizer_hash
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room, Tenant
from spaces_calendar.sandbox.config import DEMO_MAIL_DOMAIN

from . import pipeline
from .intake import RoomKey, Signal, record
from .models import BookingOutcome

PREFIX = "demo-history-"
#: Who books what: the organiser table of the ghost report needs organisers (kept, as for synced bookings, only as a
#: per-tenant hash). Lars books the zombie sync and the vendor demo nobody attends; Ingrid the Friday ghosts.
ORGANIZERS = {
    "Weekly team sync": "Lars Hansen", "Sprint planning": "Kari Nordmann", "Quarterly planning prep": "Ingrid Berg",
    "Design review": "Sofie Johansen", "Customer call": "Magnus Larsen", "Team meeting": "Nora Andersen",
    "All-hands prep": "Ingrid Berg", "1:1": "Ingrid Berg", "Workshop": "Jonas Pedersen", "Focus call": "Emma Nilsen",
    "Interview": "Henrik Kristiansen", "Vendor demo": "Lars Hansen",
}


@dataclass(frozen=True)
class Planned:
    room: str
    subject: str
    start: time
    minutes: int
    attendees: int
    #: How people actually used it: "attended", "ghost", "late", "early", "small".
    behaviour: str
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    series: str = ""


PLAN = [
    Planned("Glacier", "Weekly team sync", time(10), 60, 6, "ghost", (0,), "demo-series-weekly-sync"),
    Planned("Glacier", "Sprint planning", time(14), 60, 5, "attended", (1, 3)),
    Planned("Fjord", "Quarterly planning prep", time(14), 90, 10, "ghost", (4,), "demo-series-qpp"),
    Planned("Fjord", "Design review", time(10), 60, 7, "attended", (0, 2, 4)),
    Planned("Fjord", "Customer call", time(13), 45, 5, "attended", (1, 3)),
    Planned("Delta", "Team meeting", time(9), 60, 4, "small"),
    Planned("Delta", "All-hands prep", time(15), 60, 3, "small", (1, 3)),
    Planned("Harbour", "1:1", time(9), 30, 2, "late"),
    Planned("Harbour", "1:1", time(11), 30, 2, "attended", (0, 2)),
    Planned("Aurora", "Workshop", time(13), 120, 8, "early", (0, 2, 4)),
    Planned("Cedar", "Focus call", time(11), 30, 1, "attended", (1, 2, 3)),
    Planned("Ember", "Interview", time(10), 60, 3, "attended", (1, 3)),
    Planned("Ember", "Vendor demo", time(15), 60, 4, "ghost", (2,)),
]


def seed_history(tenant: Tenant, days: int = 21, *, today: date | None = None) -> int:
    """Write ``days`` weekdays of bookings and occupancy before today; returns bookings written (0 if present)."""
    if Booking.objects.filter(room__tenant=tenant, external_id__startswith=PREFIX).exists():
        _add_missing_organizers(tenant)
        return 0
    rooms = {room.name: room for room in Room.objects.filter(tenant=tenant).select_related("floor__building")}
    rng = random.Random(20261122)
    zone = ZoneInfo(tenant.time_zone)
    today = today or timezone.now().astimezone(zone).date()
    bookings, signals = [], []
    first = today - timedelta(days=days)
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        occupied: dict[str, list[tuple[datetime, datetime, int]]] = {name: [] for name in rooms}
        for plan in PLAN:
            room = rooms.get(plan.room)
            if room is None or day.weekday() not in plan.weekdays:
                continue
            start = datetime.combine(day, plan.start, tzinfo=zone)
            end = start + timedelta(minutes=plan.minutes)
            bookings.append(Booking(
                room=room, external_id=f"{PREFIX}{day:%Y%m%d}-{plan.room}-{plan.start:%H%M}", subject=plan.subject,
                series_id=plan.series, attendee_count=plan.attendees, start=start, end=end,
                organizer_hash=_organizer_hash(tenant, plan.subject),
            ))
            use = _use(plan, start, end, rng)
            if use:
                occupied[plan.room].append(use)
        if "Birch" in rooms:
            lunch = datetime.combine(day, time(12), tzinfo=zone)
            occupied["Birch"].append((lunch, lunch + timedelta(minutes=40), 3))
        outage = day == first + timedelta(days=min(days - 1, 9))
        for name, room in rooms.items():
            # One day Ember's sensor was down: unknown, never a ghost.
            signals.extend(_day_signals(room, day, zone, occupied[name], sensor_down=name == "Ember" and outage))
    with transaction.atomic():
        Booking.objects.bulk_create(bookings, batch_size=1000)
        record(signals, history=True)
    ids = [room.pk for room in rooms.values()]
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(today, time(0), tzinfo=zone)
    pipeline.rebuild_spans(ids, start, end)
    pipeline.recompute_outcomes(ids, start, end)
    try:
        from .aggregates import rebuild_days
    except ImportError:  # pragma: no cover - the aggregates module arrives with the reports
        return len(bookings)
    rebuild_days(ids, first, today - timedelta(days=1))
    return len(bookings)


def _organizer_hash(tenant: Tenant, subject: str) -> str:
    name = ORGANIZERS.get(subject, "")
    return organizer_hash(tenant.pk, f"{name.lower().replace(' ', '.')}@{DEMO_MAIL_DOMAIN}") if name else ""


def _add_missing_organizers(tenant: Tenant) -> None:
    """History seeded before the demo had organisers gets them, on its bookings and their outcomes alike."""
    missing = Booking.objects.filter(room__tenant=tenant, external_id__startswith=PREFIX, organizer_hash="")
    for subject in set(missing.values_list("subject", flat=True)):
        digest = _organizer_hash(tenant, subject)
        if digest:
            ids = list(missing.filter(subject=subject).values_list("pk", flat=True))
            Booking.objects.filter(pk__in=ids).update(organizer_hash=digest)
            BookingOutcome.objects.filter(booking_id__in=ids).update(organizer_hash=digest)


def _use(plan: Planned, start: datetime, end: datetime, rng: random.Random) -> tuple[datetime, datetime, int] | None:
    if plan.behaviour == "ghost":
        return None
    people = max(1, plan.attendees - rng.randint(0, 2))
    if plan.behaviour == "late":
        return start + timedelta(minutes=15 + rng.randint(0, 5)), end, people
    if plan.behaviour == "early":
        return start + timedelta(minutes=rng.randint(0, 5)), start + (end - start) / 3, people
    if plan.behaviour == "small":
        return start + timedelta(minutes=rng.randint(0, 4)), end - timedelta(minutes=5), rng.randint(2, 4)
    return start + timedelta(minutes=rng.randint(0, 6)), end - timedelta(minutes=rng.randint(0, 8)), people


def _day_signals(room: Room, day: date, zone: ZoneInfo, uses: list[tuple[datetime, datetime, int]],
                 *, sensor_down: bool = False) -> list[Signal]:
    """A camera's counts over the day, sent as real ones are: on change only (a 0 when the building opens at 07:00,
    then each arrival and departure). A sensor that is down reports that it does not know (a null count) and
    nothing else that day: unknown, never a ghost."""
    key = RoomKey(room.tenant_id, "room", str(room.pk))
    opening = datetime.combine(day, time(7), tzinfo=zone)
    if sensor_down:
        return [Signal(key, "spaces_camera", opening)]
    moments = sorted({opening, *(moment for start, end, _ in uses for moment in (start, end))})
    out: list[Signal] = []
    last: int | None = None
    for moment in moments:
        people = next((count for start, end, count in uses if start <= moment < end), 0)
        if people != last:
            out.append(Signal(key, "spaces_camera", moment, present=people > 0, people_count=people))
            last = people
    return out
