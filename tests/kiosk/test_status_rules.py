"""The status rules at their boundaries, on the pure functions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from occupancy.fusion import Reading
from occupancy.kiosk.status import (
    BUSY,
    FREE,
    PENDING,
    Policy,
    Slot,
    occupancy_now,
    room_status,
    slot_document,
    status_document,
)

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=5)
POLICY = Policy(grace=timedelta(minutes=10))


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def slot(start: float, end: float, **fields) -> Slot:
    return Slot(at(start), at(end), **fields)


def occupied(minutes_ago: float = 1, people: int | None = 3, source: str = "webex") -> Reading:
    return Reading(source, at(-minutes_ago), present=True, people=people)


def empty(minutes_ago: float = 1, source: str = "webex") -> Reading:
    return Reading(source, at(-minutes_ago), present=False, people=0)


def status(slots: list[Slot], readings: list[Reading], now: datetime = NOW, policy: Policy = POLICY):
    return room_status(slots, occupancy_now(readings, now), now, policy, MAX_AGE)


# --- occupancy now --------------------------------------------------------------------------------------------------

def test_a_fresh_occupied_source_makes_the_room_occupied_whatever_the_others_say():
    result = occupancy_now([occupied(people=4), empty(source="spaces_wifi")], NOW)
    assert (result.state, result.people_count, result.fresh_sources) == ("occupied", 4, ("spaces_wifi", "webex"))


def test_all_fresh_sources_idle_is_empty_with_zero_people():
    result = occupancy_now([empty(), empty(source="spaces_camera")], NOW)
    assert (result.state, result.people_count) == ("empty", 0)


def test_a_reading_holds_while_its_source_reports_on_change():
    # Webex devices send changes and a full report about hourly: a "No" from 45 minutes ago still holds.
    assert occupancy_now([empty(minutes_ago=45)], NOW).state == "empty"


def test_a_source_silent_past_its_full_report_interval_is_unknown_never_empty():
    # webex readings hold 90 minutes (DEFAULT_SILENCE)
    result = occupancy_now([empty(minutes_ago=90)], NOW)
    assert (result.state, result.people_count, result.fresh_sources) == ("unknown", None, ())
    assert result.observed_at == at(-90) and result.known_sources == ("webex",)


def test_a_reading_is_fresh_until_the_last_instant_of_its_window():
    result = occupancy_now([empty(minutes_ago=89.99)], NOW)
    assert result.state == "empty" and result.changes_at == at(0.01)


def test_a_sensor_that_does_not_know_is_unknown():
    assert occupancy_now([Reading("spaces_camera", at(-1), people=-1)], NOW).state == "unknown"


def test_no_sensor_at_all_is_unknown_without_a_time():
    result = occupancy_now([], NOW)
    assert (result.state, result.observed_at, result.changes_at, result.known_sources) == ("unknown", None, None, ())


# --- state ----------------------------------------------------------------------------------------------------------

def test_a_booking_that_starts_now_is_current_and_pending_while_the_room_is_empty():
    result = status([slot(0, 30), slot(60, 90)], [empty()])
    assert result.state == PENDING and result.current == slot(0, 30)
    assert result.busy_until == at(30) and result.free_until is None and result.next == slot(60, 90)


def test_a_booking_that_ends_now_is_over():
    result = status([slot(-30, 0), slot(60, 90)], [empty()])
    assert result.state == FREE and result.current is None
    assert result.free_until == at(60) and result.busy_until is None


def test_a_booking_that_starts_in_a_moment_is_next_not_current():
    result = status([slot(0.01, 30)], [empty()])
    assert result.state == FREE and result.next == slot(0.01, 30) and result.free_until == at(0.01)


def test_back_to_back_bookings_make_one_busy_run():
    result = status([slot(-30, 0), slot(0, 30), slot(30, 60), slot(90, 120)], [occupied()])
    assert result.state == BUSY and result.current == slot(0, 30)
    assert result.busy_until == at(60) and result.next == slot(30, 60)


def test_overlapping_bookings_extend_the_run():
    result = status([slot(-10, 20), slot(-5, 50), slot(50, 55)], [occupied()])
    assert result.busy_until == at(55)


def test_a_gap_between_bookings_ends_the_run():
    assert status([slot(-10, 20), slot(21, 50)], [occupied()]).busy_until == at(20)


def test_booked_with_unknown_occupancy_is_busy():
    assert status([slot(-20, 30)], []).state == BUSY
    assert status([slot(-20, 30)], [empty(minutes_ago=91)]).state == BUSY


def test_occupied_without_a_booking_is_busy_with_no_end_known():
    result = status([slot(30, 60)], [occupied()])
    assert result.state == BUSY and result.busy_until is None and result.free_until is None
    assert result.next == slot(30, 60)


def test_booked_and_empty_stays_pending_through_the_grace_window_then_is_offered():
    bookings = [slot(-10, 50)]
    assert status(bookings, [empty()], now=at(-0.01)).state == PENDING
    assert status(bookings, [empty()], now=at(-0.01)).valid_until == at(0)  # the moment the grace window ends
    ghost = status(bookings, [empty()])
    assert ghost.state == FREE and ghost.current == slot(-10, 50) and ghost.busy_until is None


def test_a_room_grace_override_is_used():
    assert status([slot(-10, 50)], [empty()], policy=Policy(grace=timedelta(minutes=15))).state == PENDING


def test_all_day_and_long_bookings_are_never_offered_as_free():
    assert status([slot(-120, 600, all_day=True)], [empty()]).state == PENDING
    assert status([slot(-120, 360)], [empty()]).state == PENDING  # 8 h: exempt
    assert status([slot(-120, 359)], [empty()]).state == FREE


def test_occupied_during_a_booking_is_busy_even_after_the_grace_window():
    assert status([slot(-30, 30)], [occupied()]).state == BUSY


def test_a_calendar_only_room_follows_its_bookings():
    assert status([slot(-5, 25)], []).state == BUSY
    result = status([slot(5, 25)], [])
    assert result.state == FREE and result.free_until == at(5) and result.occupancy.state == "unknown"


def test_a_sensor_only_room_follows_its_sensors():
    assert status([], [occupied()]).state == BUSY
    result = status([], [empty()])
    assert result.state == FREE and result.free_until is None and result.next is None


def test_cancelled_and_zero_length_bookings_are_not_there():
    # The loader leaves cancelled bookings out; a zero-length one is ignored here.
    assert status([slot(0, 0)], [empty()]).current is None


@pytest.mark.parametrize(("slots", "readings", "expected"), [
    ([slot(20, 40)], [], at(5)),                   # nothing sooner than the maximum age
    ([slot(2, 40)], [], at(2)),                    # the next booking's start
    ([slot(-20, 3)], [], at(3)),                   # the current booking's end
    ([slot(-7, 40)], [empty(minutes_ago=0)], at(3)),  # the grace window's end
    ([slot(-1, 40)], [empty(minutes_ago=89)], at(1)),  # a reading going stale
])
def test_the_status_is_valid_until_the_next_boundary(slots, readings, expected):
    assert status(slots, readings).valid_until == expected


# --- documents ------------------------------------------------------------------------------------------------------

def test_subjects_only_when_the_tenant_allows_and_never_of_private_meetings():
    public, private = Slot(at(0), at(30), "Board meeting"), Slot(at(0), at(30), "", private=True)
    assert slot_document(public, Policy())["subject"] is None
    assert slot_document(public, Policy(show_subjects=True))["subject"] == "Board meeting"
    assert slot_document(private, Policy(show_subjects=True))["subject"] is None
    assert slot_document(Slot(at(0), at(30), "Leaked", private=True), Policy(show_subjects=True))["subject"] is None


def test_the_document_uses_utc_times_to_the_second():
    result = status([Slot(at(-5) + timedelta(microseconds=7), at(30))], [occupied()])
    document = status_document({"id": 1}, result, POLICY, has_calendar=True)
    assert document["current_booking"] == {"start": "2025-03-04T09:55:00Z", "end": "2025-03-04T10:30:00Z",
                                           "all_day": False, "subject": None}
    assert document["busy_until"] == "2025-03-04T10:30:00Z"
    assert document["occupancy"] == {"state": "occupied", "people_count": 3, "observed_at": "2025-03-04T09:59:00Z",
                                     "sources": ["webex"]}
    assert document["source"] == {"calendar": True, "sensors": ["webex"]}
