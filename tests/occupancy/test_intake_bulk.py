"""The bulk intake (``record_many``, what the Firehose ledger uses) and the catalogue's batch merging: the same
results as one signal and one sighting at a time, in a handful of statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, advance_states, record, record_many
from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState, SensorSource
from occupancy.sensors import Seen, note_seen
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def rooms():
    acme, other = make_tenant("Acme"), make_tenant("Other")
    return (acme, make_room(acme, "Fjord", spaces_location_id="loc-1", webex_workspace_id="ws-1"),
            make_room(other, "Theirs", spaces_location_id="loc-2"))


def test_record_many_takes_plain_tuples_and_gives_what_record_gives(rooms):
    acme, fjord, theirs = rooms
    now = timezone.now()
    result = record_many([
        (acme.pk, "spaces_location", "loc-1", "spaces_camera", now, True, 2, None, None, "e1"),
        (acme.pk, "webex_workspace", "ws-1", "webex", now, None, None, None, None, "e2"),
        (acme.pk, "room", str(fjord.pk), "spaces_occupancy", now, True, 3, 4, now + timedelta(minutes=1), "e3"),
        (acme.pk, "room", f"0{fjord.pk}", "spaces_occupancy", now, True, 3, None, None, "e4"),  # not how ids read
        (acme.pk, "room", str(theirs.pk), "spaces_occupancy", now, True, 3, None, None, "e5"),
        (acme.pk, "spaces_location", "loc-2", "spaces_camera", now, True, 1, None, None, "e6"),
        (acme.pk, "spaces_location", "loc-1", "spaces_camera", now + timedelta(days=1), True, 1, None, None, "e7"),
    ], now=now)
    assert (result.accepted, result.pending, result.refused) == (3, 1, {"unknown_room": 2, "out_of_range_time": 1})
    assert sorted(OccupancySignal.objects.filter(room=fjord).values_list("source_event_id", flat=True)) == [
        "e1", "e2", "e3"]
    windowed = OccupancySignal.objects.get(source_event_id="e3")
    assert (windowed.peak_count, windowed.window_end, windowed.received_at) == (4, now + timedelta(minutes=1), now)
    assert list(PendingSignal.objects.values_list("key", "source_event_id")) == [("loc-2", "e6")]
    assert RoomSourceState.objects.get(room=fjord, source="webex").present is None


def test_one_batch_writes_in_a_few_statements_whatever_its_size(rooms):
    acme, fjord, _ = rooms
    now = timezone.now()
    signals = [Signal(RoomKey(acme.pk, "spaces_location", "loc-1" if n % 2 else f"loc-x{n}"), "spaces_camera",
                      now - timedelta(seconds=n), present=True, people_count=n % 5, source_event_id=f"e{n}")
               for n in range(600)]
    with CaptureQueriesContext(connection) as queries:
        result = record(signals)
    assert (result.accepted, result.pending) == (300, 300)
    # The room lookup, the signals, the pending signals and the states (SQLite: a few lookups of 900 keys).
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) <= 6


def test_the_latest_of_a_batch_wins_and_of_equal_times_the_later_one(rooms):
    acme, fjord, _ = rooms
    at = timezone.now().replace(microsecond=0)
    record([Signal(RoomKey(acme.pk, "spaces_location", "loc-1"), "spaces_camera", at, present=True, people_count=4),
            Signal(RoomKey(acme.pk, "spaces_location", "loc-1"), "spaces_camera", at, present=False, people_count=0),
            Signal(RoomKey(acme.pk, "spaces_location", "loc-1"), "spaces_camera", at - timedelta(seconds=1),
                   present=True, people_count=9)])
    state = RoomSourceState.objects.get(room=fjord)
    assert (state.observed_at, state.present, state.people_count) == (at, False, 0)


@pytest.mark.parametrize("first, then, moves", [
    (0, 500_000, True),  # a whole second, then half a second later (SQLite compares the stored text)
    (500_000, 0, False),  # and back: a second earlier in the text's terms, never a roll-back
    (999_999, 1_000_000, True),  # the next second
])
def test_a_state_moves_forward_only_across_whole_and_fractional_seconds(rooms, first, then, moves):
    acme, fjord, _ = rooms
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    for micros, people in ((first, 1), (then, 2)):
        record([Signal(RoomKey(acme.pk, "spaces_location", "loc-1"), "spaces_camera",
                       base + timedelta(microseconds=micros), present=True, people_count=people)])
    assert RoomSourceState.objects.get(room=fjord).people_count == (2 if moves else 1)


def test_advance_states_still_takes_signal_rows(rooms):
    acme, fjord, _ = rooms
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    advance_states([OccupancySignal(tenant_id=acme.pk, room_id=fjord.pk, source="webex", observed_at=at,
                                    present=True, people_count=None)])
    advance_states([OccupancySignal(tenant_id=acme.pk, room_id=fjord.pk, source="webex",
                                    observed_at=at - timedelta(minutes=1), present=False, people_count=None)])
    assert RoomSourceState.objects.get(room=fjord).present is True


def test_the_catalogue_merges_a_batch_in_order_as_one_sighting_at_a_time_would(rooms):
    acme, _, _ = rooms
    now = timezone.now()
    first = Seen(acme.pk, "spaces_location", "loc-1", "Fjord", "HQ / Floor 3", "ZONE", signal_source="spaces_camera")
    renamed = Seen(acme.pk, "spaces_location", "loc-1", "Fjord (renovated)")
    # The same object again after a rename: its name is the last one said.
    assert note_seen([first, renamed, first], now) == 1
    source = SensorSource.objects.get()
    assert (source.name, source.hierarchy, source.signal_sources, source.last_signal_at) == (
        "Fjord", "HQ / Floor 3", "spaces_camera", now)
    assert note_seen([first, first], now) == 0, "nothing new within the minute"
    assert note_seen([renamed], now) == 1, "a rename is written at once"
    assert SensorSource.objects.get().name == "Fjord (renovated)"
    people = Seen(acme.pk, "spaces_location", "loc-1", signal_source="webex_people")
    assert note_seen([first, people], now) == 1, "a new kind of signal is written at once"
    source = SensorSource.objects.get()
    assert (source.name, source.signal_sources) == ("Fjord", "spaces_camera,webex_people")
