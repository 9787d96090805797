"""Builders shared by the report tests (no tests here): hand-made BookingOutcome and RoomDay rows, and a small world
of two tenants where tenant Globex has rows that must never show up in tenant Acme's reports, nor the reverse."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from occupancy.models import BookingOutcome, RoomDay
from spaces_calendar.calendars.bookings import organizer_hash
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Building, Floor, Role, Room, Tenant
from tests.factories import make_tenant, make_user

OSLO, NEW_YORK = ZoneInfo("Europe/Oslo"), ZoneInfo("America/New_York")
FROM, TO = date(2025, 1, 1), date(2025, 1, 31)
#: Users' passwords hashed cheaply: the default hasher takes most of a test's time here, for no coverage.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
RANGE = {"from": FROM.isoformat(), "to": TO.isoformat()}
_ids = itertools.count(1)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = OSLO) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def place(tenant: Tenant, building: str, floor: str, room: str, *, zone: str = "Europe/Oslo", **fields) -> Room:
    building_row, _ = Building.objects.get_or_create(tenant=tenant, name=building, defaults={"time_zone": zone})
    floor_row, _ = Floor.objects.get_or_create(building=building_row, name=floor)
    return Room.objects.create(floor=floor_row, name=room, email=f"{next(_ids)}-{room.lower()}@example.com",
                               **fields)


def outcome(room: Room, start: datetime, minutes: int = 30, kind: str = "ghost", *, subject: str = "Weekly sync",
            private: bool = False, series: str = "", organizer: str = "", final: bool = True,
            median_people: float | None = None, peak_people: int | None = None, cancelled: bool = False,
            evidence: dict | None = None) -> BookingOutcome:
    end = start + timedelta(minutes=minutes)
    digest = organizer_hash(room.tenant_id, organizer)
    booking = Booking.objects.create(room=room, external_id=f"event-{next(_ids)}", series_id=series,
                                     subject="" if private else subject, private=private, organizer_hash=digest,
                                     start=start, end=end, cancelled=cancelled)
    evidence = evidence if evidence is not None else {
        "first_presence_at": None, "last_presence_at": None, "peak_people": peak_people,
        "median_people": median_people, "occupied_minutes": 0.0, "data_gap_minutes": 1.5,
        "grace_window_coverage": 0.9, "sources": ["spaces_wifi", "webex"]}
    return BookingOutcome.objects.create(
        booking=booking, tenant_id=room.tenant_id, room=room, start=start, end=end, outcome=kind, final=final,
        peak_people=peak_people, median_people=median_people, series_id=series, organizer_hash=digest,
        evidence=evidence, computed_at=timezone.now())


def day(room: Room, when: date, **fields) -> RoomDay:
    fields.setdefault("occupied_by_hour", [0.0] * 24)
    return RoomDay.objects.create(tenant_id=room.tenant_id, room=room, date=when, computed_at=timezone.now(),
                                  **fields)


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    fjord: Room  # Acme, HQ / 1, capacity 10
    glacier: Room  # Acme, HQ / 2, capacity 4
    harbor: Room  # Acme, Annex (New York) / G, capacity 6
    war_room: Room  # Globex
    acme_viewer: object
    acme_admin: object
    globex_viewer: object


#: Names and subjects of Acme's that no Globex user may ever see.
ACME_SECRETS = ("Fjord", "Glacier", "Harbor", "Board strategy", "Acme standup")
GLOBEX_SECRETS = ("War Room", "Globex plotting", "Tower")


def build_world() -> World:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    world = World(
        acme=acme, globex=globex,
        fjord=place(acme, "HQ", "1", "Fjord", capacity=10),
        glacier=place(acme, "HQ", "2", "Glacier", capacity=4),
        harbor=place(acme, "Annex", "G", "Harbor", zone="America/New_York", capacity=6),
        war_room=place(globex, "Tower", "9", "War Room", capacity=20),
        acme_viewer=make_user(acme, Role.VIEWER), acme_admin=make_user(acme, Role.ADMIN),
        globex_viewer=make_user(globex, Role.VIEWER),
    )
    jan = lambda n: date(2025, 1, n)  # noqa: E731 - a date of the report's month, for readability
    # Fjord: a zombie series (3 ghosts in a row, an unknown in between does not break it), one attended.
    for n, kind in ((6, "ghost"), (13, "unknown"), (20, "ghost"), (27, "ghost")):
        outcome(world.fjord, at(jan(n), 9), subject="Acme standup", series="series-standup", kind=kind,
                organizer="Alice@Acme.example")
    outcome(world.fjord, at(jan(7), 14), 60, "attended", subject="Board strategy", median_people=6, peak_people=9,
            organizer="bob@acme.example")
    # Glacier: a private ghost, a late start, an early end whose empty tail is recoverable.
    outcome(world.glacier, at(jan(8), 10), 60, private=True, organizer="bob@acme.example")
    outcome(world.glacier, at(jan(9), 10), 60, "late_start", median_people=2)
    outcome(world.glacier, at(jan(10), 10), 60, "early_end", median_people=4,
            evidence={"last_presence_at": at(jan(10), 10, 40).isoformat()})
    # Harbor (New York): a ghost late on the last local day: already 1 February in UTC, still in range.
    outcome(world.harbor, at(jan(31), 20, zone=NEW_YORK), subject="Acme standup")
    # Out of range or not counted: next local day in Oslo (still 31 January in UTC), before the range, still
    # running (not final), a cancelled booking.
    outcome(world.fjord, at(date(2025, 2, 1), 0, 30), subject="Acme standup")
    outcome(world.fjord, at(date(2024, 12, 31), 23, 0), subject="Acme standup")
    outcome(world.fjord, at(jan(15), 9), subject="Acme standup", final=False)
    outcome(world.fjord, at(jan(16), 9), subject="Acme standup", cancelled=True)
    # Daily totals.
    hours = [0.0] * 24
    hours[9], hours[14] = 30.0, 60.0
    day(world.fjord, jan(6), bookings=1, booked_minutes=30, ghosts=1, recoverable_minutes=30)  # a Monday
    day(world.fjord, jan(7), bookings=1, booked_minutes=60, occupied_minutes=90, occupied_booked_minutes=60,
        covered_booked_minutes=60, peak_people=9, occupied_by_hour=hours)  # a Tuesday
    day(world.glacier, jan(8), bookings=1, booked_minutes=60, covered_booked_minutes=30, ghosts=1,
        recoverable_minutes=60)
    day(world.fjord, date(2025, 2, 1), bookings=1, booked_minutes=600, occupied_minutes=600)  # out of range
    # Globex: everything Acme has, and more, that Acme must never see.
    outcome(world.war_room, at(jan(6), 9), subject="Globex plotting", series="series-standup",
            organizer="alice@acme.example")
    day(world.war_room, jan(6), bookings=5, booked_minutes=500, occupied_minutes=400, ghosts=5,
        recoverable_minutes=500, peak_people=30, occupied_by_hour=[10.0] * 24)
    return world
