"""RoomDay aggregates: booked vs occupied minutes on the room's local day, outcome counts, and the tasks around them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from occupancy import aggregates
from occupancy.intake import RoomKey, Signal, record
from occupancy.models import BookingOutcome, OccupancySpan, RoomDay
from spaces_calendar.calendars.bookings import bookings_changed
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
OSLO = ZoneInfo("Europe/Oslo")
DAY = date(2026, 3, 10)
COMPUTED = datetime(2026, 12, 1, tzinfo=OSLO)


@pytest.fixture
def room():
    return make_room(make_tenant("Acme"), "Fjord")  # the factory's building is in Europe/Oslo



def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=OSLO)


def booking(room, start: datetime, end: datetime, outcome: str | None = None, last_presence: datetime | None = None,
            **fields) -> Booking:
    b = Booking.objects.create(room=room, external_id=f"e{Booking.objects.count()}", start=start, end=end, **fields)
    if outcome:
        BookingOutcome.objects.create(
            booking=b, tenant_id=room.tenant_id, room=room, start=start, end=end, outcome=outcome, final=True,
            evidence={"last_presence_at": last_presence.isoformat() if last_presence else None},
            computed_at=COMPUTED)
    return b


def timeline(room, *pieces: tuple[datetime, datetime, str, int | None]) -> None:
    OccupancySpan.objects.bulk_create(
        OccupancySpan(tenant_id=room.tenant_id, room=room, start=start, end=end, state=state, peak_people=peak)
        for start, end, state, peak in pieces)


def day_of(room, day: date = DAY) -> RoomDay:
    return RoomDay.objects.get(room=room, date=day)


def rebuild(room, first: date = DAY, last: date = DAY) -> int:
    return aggregates.rebuild_days([room.pk], first, last, now=COMPUTED)


def test_overlapping_bookings_count_once_and_occupancy_splits_into_booked_and_unbooked(room):
    booking(room, at(DAY, 9), at(DAY, 10))
    booking(room, at(DAY, 9, 30), at(DAY, 11))
    timeline(room, (at(DAY, 0), at(DAY, 9), "empty", 0), (at(DAY, 9), at(DAY, 9, 45), "occupied", 4),
             (at(DAY, 9, 45), at(DAY, 10), "empty", 0), (at(DAY, 10), at(DAY, 10, 30), "unknown", None),
             (at(DAY, 10, 30), at(DAY, 12), "occupied", 6), (at(DAY, 12), at(DAY + timedelta(1), 0), "empty", 0))

    assert rebuild(room) == 1

    row = day_of(room)
    assert (row.bookings, row.booked_minutes, row.occupied_minutes, row.occupied_booked_minutes) == (2, 120, 135, 75)
    assert row.occupied_minutes - row.occupied_booked_minutes == 60  # unbooked occupancy
    assert (row.unknown_minutes, row.covered_booked_minutes, row.peak_people) == (30, 90, 6)
    assert row.occupied_by_hour[9:12] == [45, 30, 60] and sum(row.occupied_by_hour) == 135
    assert (row.tenant_id, row.computed_at) == (room.tenant_id, COMPUTED)


def test_a_booking_across_local_midnight_is_booked_on_both_days_but_counted_on_the_first(room):
    next_day = DAY + timedelta(1)
    booking(room, at(DAY, 23), at(next_day, 1), outcome="ghost")
    timeline(room, (at(DAY, 22), at(next_day, 2), "empty", 0))

    assert rebuild(room, DAY, next_day) == 2

    first, second = day_of(room), day_of(room, next_day)
    assert (first.booked_minutes, first.bookings, first.ghosts, first.recoverable_minutes) == (60, 1, 1, 120)
    assert (second.booked_minutes, second.bookings, second.ghosts, second.recoverable_minutes) == (60, 0, 0, 0)
    assert first.covered_booked_minutes == second.covered_booked_minutes == 60


def test_the_autumn_dst_day_has_25_hours_and_the_repeated_hour_adds_up_in_one_slot(room):
    day = date(2026, 10, 25)  # Oslo: 03:00 CEST becomes 02:00 CET
    start, end = at(day, 0), at(day + timedelta(1), 0)
    occupied_from, occupied_to = at(day, 0, 30), at(day, 4)  # 4.5 hours of real time
    timeline(room, (start, occupied_from, "unknown", None), (occupied_from, occupied_to, "occupied", 2),
             (occupied_to, end, "unknown", None))

    rebuild(room, day, day)

    row = day_of(room, day)
    assert end.timestamp() - start.timestamp() == 25 * 3600  # (aware minus aware in one zone is wall time)
    assert row.occupied_minutes == 270 and row.unknown_minutes == 25 * 60 - 270
    assert row.occupied_by_hour[:5] == [30, 60, 120, 60, 0] and len(row.occupied_by_hour) == 24


def test_the_spring_dst_day_skips_an_hour(room):
    day = date(2026, 3, 29)  # Oslo: 02:00 CET becomes 03:00 CEST
    timeline(room, (at(day, 1), at(day, 4), "occupied", 2))

    rebuild(room, day, day)

    row = day_of(room, day)
    assert row.occupied_minutes == 120 and row.occupied_by_hour[:5] == [0, 60, 0, 60, 0]


def test_outcome_counts_and_recoverable_minutes_of_ghosts_and_early_ends(room):
    booking(room, at(DAY, 8), at(DAY, 8, 30), outcome="ghost")
    booking(room, at(DAY, 9), at(DAY, 10), outcome="late_start")
    booking(room, at(DAY, 13), at(DAY, 15), outcome="early_end", last_presence=at(DAY, 14))
    booking(room, at(DAY, 16), at(DAY, 17), outcome="unknown")
    booking(room, at(DAY, 17), at(DAY, 18), outcome="attended")
    booking(room, at(DAY, 0), at(DAY + timedelta(1), 0), all_day=True)  # exempt: booked, no outcome
    booking(room, at(DAY, 19), at(DAY, 20), outcome="ghost", cancelled=True)  # cancelled: not there at all

    rebuild(room)

    row = day_of(room)
    assert (row.bookings, row.ghosts, row.late_starts, row.early_ends, row.unknowns) == (6, 1, 1, 1, 1)
    assert row.recoverable_minutes == 30 + 60
    assert row.booked_minutes == 24 * 60
    assert row.covered_booked_minutes == 0 and row.unknown_minutes == 0  # no spans: no data, never "empty"


def test_every_date_gets_a_row_and_running_again_writes_the_same_rows(room):
    booking(room, at(DAY, 9), at(DAY, 10), outcome="ghost")
    timeline(room, (at(DAY, 9), at(DAY, 10), "empty", 0))
    last = DAY + timedelta(2)

    assert rebuild(room, DAY, last) == 3
    first = list(RoomDay.objects.order_by("date").values())
    assert rebuild(room, DAY, last) == 3

    assert list(RoomDay.objects.order_by("date").values()) == first
    assert [row["bookings"] for row in first] == [1, 0, 0]


def test_a_rebuild_replaces_what_changed_since_the_last_one(room):
    b = booking(room, at(DAY, 9), at(DAY, 10), outcome="ghost")
    rebuild(room)
    Booking.objects.filter(pk=b.pk).update(cancelled=True)

    rebuild(room)

    row = day_of(room)
    assert (row.bookings, row.ghosts, row.booked_minutes, row.recoverable_minutes) == (0, 0, 0, 0)
    assert RoomDay.objects.count() == 1


def test_spans_after_now_are_not_counted(room):
    timeline(room, (at(DAY, 9), at(DAY, 10), "occupied", 3))

    aggregates.rebuild_days([room.pk], DAY, DAY, now=at(DAY, 9, 20))

    assert day_of(room).occupied_minutes == 20


def test_rebuild_today_uses_the_rooms_local_date(room):
    now = at(DAY, 0, 30)  # still the previous day in UTC

    assert aggregates.rebuild_today([room.pk], now=now) == 1

    assert list(RoomDay.objects.values_list("date", flat=True)) == [DAY]


def test_interval_helpers():
    assert aggregates.merge([(5, 6), (1, 3), (2, 4), (4, 4.5)]) == [(1, 4.5), (5, 6)]
    assert aggregates.intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert aggregates.spread([(0, 15), (25, 30)], [0, 10, 20, 30]) == [10, 5, 5]


# --------------------------------------------------------------------------------------------------------
# The functions the tasks call, and the bookings_changed wiring
# --------------------------------------------------------------------------------------------------------


def test_recompute_rooms_calls_the_rooms_bookings_and_fills_their_days(room):
    now = timezone.now()
    ghost = booking(room, now - timedelta(hours=3), now - timedelta(hours=2))
    timeline(room, (now - timedelta(hours=4), now, "empty", 0))

    written = aggregates.recompute_rooms([room.pk], now=now)

    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"
    local_date = ghost.start.astimezone(OSLO).date()
    assert written >= 4  # yesterday .. the day after tomorrow
    assert day_of(room, local_date).ghosts == 1


def test_a_bookings_changed_signal_recomputes_the_rooms_through_the_task(room, eager_tasks):
    now = timezone.now()
    ghost = booking(room, now - timedelta(hours=3), now - timedelta(hours=2))
    timeline(room, (now - timedelta(hours=4), now, "empty", 0))

    bookings_changed.send(sender=Booking, room_ids=[room.pk])

    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"
    assert day_of(room, ghost.start.astimezone(OSLO).date()).ghosts == 1


def test_refresh_folds_new_signals_and_rebuilds_the_rooms_days(room):
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(hours=2)
    key = RoomKey(room.tenant_id, "room", str(room.pk))
    record([Signal(key, "spaces_occupancy", start + timedelta(minutes=m), people_count=2 if m < 40 else 0)
            for m in range(90)], now=now)
    attended = booking(room, start, start + timedelta(minutes=60))

    report = aggregates.refresh(now=now)

    assert report.signals == 90 and report.days >= 2
    assert BookingOutcome.objects.get(booking=attended).outcome in {"attended", "early_end"}
    row = day_of(room, start.astimezone(OSLO).date())
    assert row.bookings == 1 and row.occupied_minutes > 0
    assert aggregates.refresh(now=now).signals == 0
