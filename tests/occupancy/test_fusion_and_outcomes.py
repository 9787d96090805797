"""Fusion of sources into spans, and the call on each booking, at the edges that matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from occupancy.fusion import EMPTY, OCCUPIED, UNKNOWN, Reading, fuse
from occupancy.outcomes import (
    ATTENDED,
    EARLY_END,
    GHOST,
    LATE_START,
    UNKNOWN_OUTCOME,
    Policy,
    classify,
    is_exempt,
    zombie_series,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def every(source: str, start: float, end: float, step: float = 1, **values) -> list[Reading]:
    """A source reporting the same thing every ``step`` minutes over [start, end)."""
    out, minute = [], start
    while minute < end:
        out.append(Reading(source, at(minute), **values))
        minute += step
    return out


def states(spans) -> list[tuple[float, float, str]]:
    return [((s.start - T0) / MIN, (s.end - T0) / MIN, s.state) for s in spans]


# -- fusion ----------------------------------------------------------------------------------------------


def test_no_data_is_unknown_never_empty():
    assert states(fuse([], at(0), at(60))) == [(0, 60, UNKNOWN)]


def test_a_reading_holds_until_the_same_source_says_otherwise():
    # Cameras send a count only when it changes: a 0 at minute 0 is still true at minute 40.
    readings = [Reading("spaces_camera", at(0), people=0), Reading("spaces_camera", at(40), people=3),
                Reading("spaces_camera", at(50), people=0)]
    assert states(fuse(readings, at(0), at(90))) == [(0, 40, EMPTY), (40, 50, OCCUPIED), (50, 90, EMPTY)]


def test_a_reading_from_before_the_range_holds_into_it():
    spans = fuse([Reading("spaces_camera", at(-300), people=0)], at(0), at(30))
    assert states(spans) == [(0, 30, EMPTY)]


def test_a_source_silent_past_its_limit_is_no_longer_believed():
    # Webex devices send a full report about hourly: silence well past that means the device is gone.
    spans = fuse([Reading("webex", at(0), present=False)], at(0), at(180), staleness={"webex": 90 * MIN})
    assert states(spans) == [(0, 90, EMPTY), (90, 180, UNKNOWN)]


def test_a_lost_stretch_of_our_stream_is_unknown_and_the_reading_holds_again_after_it():
    readings = [Reading("spaces_camera", at(0), people=0), Reading("webex", at(0), present=False)]
    spans = fuse(readings, at(0), at(60), outages=[(at(20), at(30))], outage_sources=frozenset({"spaces_camera"}))
    assert states(spans) == [(0, 60, EMPTY)]  # webex comes another way: it still knows
    spans = fuse(readings, at(0), at(60), outages=[(at(20), at(30))])
    assert states(spans) == [(0, 20, EMPTY), (20, 30, UNKNOWN), (30, 60, EMPTY)]


def test_any_fresh_source_saying_occupied_wins_over_idle_ones():
    readings = (every("spaces_occupancy", 0, 30, people=0) + every("webex", 10, 20, present=True, people=3)
                + every("webex", 20, 30, present=False, people=0))
    spans = fuse(readings, at(0), at(30), empty_lag={})
    assert states(spans) == [(0, 10, EMPTY), (10, 20, OCCUPIED), (20, 30, EMPTY)]
    assert spans[1].peak == 3 and spans[1].sources == {"spaces_occupancy", "webex"}


def test_a_source_that_does_not_know_is_not_live():
    # −1 / null is "this device cannot tell", not a vote: another source that knows decides, and alone it is unknown.
    unknowing = every("webex", 0, 30, present=None, people=None)
    readings = every("spaces_occupancy", 0, 30, people=0) + unknowing
    assert states(fuse(readings, at(0), at(30))) == [(0, 30, EMPTY)]
    assert states(fuse(unknowing, at(0), at(30))) == [(0, 30, UNKNOWN)]


def test_a_people_count_of_zero_with_presence_unknown_is_empty():
    readings = every("webex", 0, 10, present=None, people=0)
    assert states(fuse(readings, at(0), at(10)))[0][2] == EMPTY


def test_a_slow_to_clear_source_empties_the_room_when_people_left():
    # Webex presence says No two minutes after the last person left at minute 30.
    readings = every("webex", 0, 32, present=True) + every("webex", 32, 60, present=False)
    spans = fuse(readings, at(0), at(60))
    assert states(spans) == [(0, 30, OCCUPIED), (30, 60, EMPTY)]


# -- outcomes --------------------------------------------------------------------------------------------

POLICY = Policy(grace=timedelta(minutes=10))
AFTER = at(120)


def call(readings, start=0.0, end=60.0, now=AFTER, policy=POLICY):
    spans = fuse(readings, at(start - 30), at(end + 30))
    return classify(at(start), at(end), spans, now, policy)


def test_nobody_through_the_grace_window_and_after_is_a_ghost_with_its_evidence():
    result = call(every("spaces_occupancy", -5, 65, people=0))
    assert result.outcome == GHOST and result.final
    assert result.evidence()["grace_window_coverage"] == 1.0 and result.evidence()["sources"] == ["spaces_occupancy"]


def test_presence_exactly_at_the_grace_boundary_is_in_time():
    readings = every("spaces_occupancy", -5, 10, people=0) + every("spaces_occupancy", 10, 60, people=4)
    result = call(readings)
    assert result.outcome == ATTENDED and result.first_presence_at == at(10) and result.peak_people == 4


def test_presence_just_after_the_grace_window_is_a_late_start():
    readings = every("spaces_occupancy", -5, 11, people=0) + every("spaces_occupancy", 11, 60, people=2)
    assert call(readings).outcome == LATE_START


def test_presence_after_a_grace_window_without_data_is_unknown_not_a_late_start():
    readings = every("spaces_occupancy", 9, 11, people=0) + every("spaces_occupancy", 11, 60, people=2)
    result = call(readings)
    assert result.outcome == UNKNOWN_OUTCOME and result.first_presence_at == at(11)


def test_missing_data_in_the_grace_window_is_unknown_not_a_ghost():
    readings = every("spaces_occupancy", 8, 65, people=0)  # nothing for the first 8 of 10 minutes
    result = call(readings)
    assert result.outcome == UNKNOWN_OUTCOME and result.unknown_minutes >= 8


def test_people_leaving_long_before_the_end_is_an_early_end():
    readings = every("spaces_occupancy", 0, 20, people=3) + every("spaces_occupancy", 20, 65, people=0)
    assert call(readings).outcome == EARLY_END


def test_leaving_a_few_minutes_early_is_still_attended():
    readings = every("spaces_occupancy", 0, 55, people=3) + every("spaces_occupancy", 55, 65, people=0)
    assert call(readings).outcome == ATTENDED


def test_before_the_grace_window_ends_there_is_no_call_yet_and_during_the_booking_it_is_provisional():
    readings = every("spaces_occupancy", -5, 65, people=0)
    assert call(readings, now=at(9)) is None
    early = call(readings, now=at(15))
    assert early.outcome == GHOST and not early.final


def test_overlapping_sources_one_present_is_enough():
    readings = every("spaces_wifi", 0, 60, step=5, present=False) + every("spaces_camera", 2, 59, people=1)
    assert call(readings).outcome == ATTENDED


def test_a_booking_moved_after_the_fact_is_judged_on_its_new_time():
    readings = every("spaces_occupancy", -5, 125, people=0) + every("spaces_occupancy", 60, 120, people=5)
    assert call(readings, start=0, end=60, now=at(200)).outcome == GHOST
    assert call(readings, start=60, end=120, now=at(200)).outcome == ATTENDED


def test_the_grace_window_crosses_a_dst_change_in_real_minutes():
    # Europe/Oslo falls back at 01:00 UTC on 2026-10-25; a 00:55 UTC booking's grace window is still 10 minutes.
    start = datetime(2026, 10, 25, 0, 55, tzinfo=UTC)
    readings = [Reading("spaces_occupancy", start + MIN * n, people=0) for n in range(11)]
    readings += [Reading("spaces_occupancy", start + MIN * n, people=2) for n in range(11, 60)]
    spans = fuse(readings, start - 30 * MIN, start + 90 * MIN)
    assert classify(start, start + 60 * MIN, spans, start + 2 * 60 * MIN, POLICY).outcome == LATE_START


@pytest.mark.parametrize("hours, all_day, exempt", [(7.9, False, False), (8, False, True), (1, True, True)])
def test_long_and_all_day_bookings_are_exempt(hours, all_day, exempt):
    assert is_exempt(T0, T0 + timedelta(hours=hours), all_day, POLICY) is exempt


def test_three_ghosts_in_a_row_make_a_zombie_series_and_unknown_does_not_break_the_run():
    history = [("s1", GHOST), ("s2", GHOST), ("s1", GHOST), ("s1", UNKNOWN_OUTCOME), ("s2", ATTENDED),
               ("s1", GHOST), ("s2", GHOST), ("", GHOST)]
    assert zombie_series(history) == {"s1"}
