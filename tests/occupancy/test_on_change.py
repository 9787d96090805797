"""Sources that report on change, through intake, the pipeline and the periodic refresh: a reading holds until its
source says otherwise, silence past a source's limit is unknown, our stream's outages are unknown, and a booking
with no data at all reports its whole length as a gap.

Times are relative to the moment the test runs (intake refuses signals older than OCCUPANCY_MAX_SIGNAL_AGE_S)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from occupancy import aggregates, pipeline
from occupancy.intake import RoomKey, Signal, record
from occupancy.models import BookingOutcome, OccupancySpan
from occupancy.outages import record_outage
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


@pytest.fixture
def clock():
    """A fixed "now" taken when the test runs, on a whole minute, and an hour-based origin well before it."""
    now = timezone.now().replace(second=0, microsecond=0)
    return now, now - timedelta(hours=6)


@pytest.fixture
def room():
    return make_room(make_tenant("Acme"), "Fjord", spaces_location_id="loc-1", webex_workspace_id="ws-1")


def say(room, source: str, at, *, now, people=None, present=None) -> None:
    key = RoomKey(room.tenant_id, "webex_workspace" if source.startswith("webex") else "spaces_location",
                  room.webex_workspace_id if source.startswith("webex") else room.spaces_location_id)
    result = record([Signal(key, source, at, present=present, people_count=people)], now=now)
    assert result.accepted == 1


def booking(room, start, minutes: int, name: str) -> Booking:
    return Booking.objects.create(room=room, external_id=name, start=start, end=start + MIN * minutes)


def judge(room, start, now) -> None:
    pipeline.rebuild_spans([room.pk], start, now)
    pipeline.recompute_outcomes([room.pk], start, now, now)


def outcome(b: Booking) -> BookingOutcome:
    return BookingOutcome.objects.get(booking=b)


def test_a_camera_that_said_zero_hours_before_makes_a_ghost_and_its_count_makes_attended(room, clock):
    now, t0 = clock
    say(room, "spaces_camera", t0 - timedelta(hours=3), now=now, people=0)  # and nothing since: nobody came
    ghost = booking(room, t0, 30, "ghost")
    say(room, "spaces_camera", t0 + 60 * MIN, now=now, people=2)
    say(room, "spaces_camera", t0 + 115 * MIN, now=now, people=0)
    attended = booking(room, t0 + 60 * MIN, 60, "attended")

    judge(room, t0, now)

    assert (outcome(ghost).outcome, outcome(attended).outcome) == ("ghost", "attended")
    assert outcome(ghost).evidence["data_gap_minutes"] == 0.0
    assert outcome(attended).evidence["peak_people"] == 2


def test_a_webex_device_silent_past_its_full_report_interval_is_unknown(room, clock, settings):
    now, t0 = clock
    settings.OCCUPANCY_SOURCE_SILENCE_S = {"webex": 3600.0}
    say(room, "webex", t0 - 2 * 60 * MIN, now=now, present=False)  # two hours of silence before the booking
    b = booking(room, t0, 30, "silent")

    judge(room, t0, now)

    assert outcome(b).outcome == "unknown"


def test_presence_unknown_and_count_minus_one_leave_the_room_unknown_but_another_source_still_decides(room, clock):
    now, t0 = clock
    say(room, "webex", t0 - 30 * MIN, now=now, present=None)
    say(room, "webex_people", t0 - 30 * MIN, now=now, people=None)
    unknown = booking(room, t0, 30, "unknown")
    say(room, "spaces_camera", t0 + 55 * MIN, now=now, people=0)
    ghost = booking(room, t0 + 60 * MIN, 30, "ghost")

    judge(room, t0 - 60 * MIN, now)

    assert (outcome(unknown).outcome, outcome(ghost).outcome) == ("unknown", "ghost")


def test_our_outage_over_the_grace_window_is_unknown_never_a_ghost(room, clock):
    now, t0 = clock
    say(room, "spaces_camera", t0 - 60 * MIN, now=now, people=0)
    lost = booking(room, t0, 30, "lost")
    after = booking(room, t0 + 120 * MIN, 30, "after")
    record_outage(room.tenant_id, t0 - 10 * MIN, t0 + 60 * MIN, stream="firehose:test")

    judge(room, t0 - 60 * MIN, now)

    assert outcome(lost).outcome == "unknown"
    assert outcome(lost).evidence["data_gap_minutes"] == 30.0
    # Only the lost stretch is unknown: afterwards the camera's last count holds again.
    assert outcome(after).outcome == "ghost"


def test_a_booking_with_no_data_at_all_reports_its_whole_length_as_a_gap(clock):
    now, t0 = clock
    bare = make_room(make_tenant("Bare"), "Nothing")
    b = booking(bare, t0, 45, "bare")

    judge(bare, t0 - 60 * MIN, now)

    assert outcome(b).outcome == "unknown"
    assert outcome(b).evidence["data_gap_minutes"] == 45.0


def test_the_refresh_carries_a_quiet_rooms_timeline_forward_and_calls_its_ghosts(room, clock):
    now, t0 = clock
    say(room, "spaces_camera", t0 - 60 * MIN, now=now, people=0)
    aggregates.refresh(now=t0)  # the camera's reading folded in; nothing is said after it
    b = booking(room, now - 40 * MIN, 30, "quiet")

    aggregates.refresh(now=now)

    assert outcome(b).outcome == "ghost" and outcome(b).final
    empty = list(OccupancySpan.objects.filter(room=room, state="empty"))
    assert len(empty) == 1, "extending joins the span it continues"
    assert (empty[0].start, empty[0].end) == (t0 - 60 * MIN, now)


def test_an_open_outage_makes_the_room_unknown_until_the_stream_is_back(room, clock):
    now, t0 = clock
    say(room, "spaces_camera", t0 - 60 * MIN, now=now, people=0)
    record_outage(room.tenant_id, now - 30 * MIN, None, stream="firehose:test")
    b = booking(room, now - 25 * MIN, 20, "during")

    aggregates.refresh(now=now)

    assert outcome(b).outcome == "unknown"
