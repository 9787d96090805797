"""The occupancy intake every source goes through: rooms only within their tenant, sane times, state moves forward."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, record
from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def rooms():
    acme, other = make_tenant("Acme"), make_tenant("Other")
    return (acme, make_room(acme, "Fjord", spaces_location_id="loc-1", webex_workspace_id="ws-1"),
            make_room(other, "Theirs", spaces_location_id="loc-2"))


def signal(tenant, kind, value, **fields) -> Signal:
    return Signal(room=RoomKey(tenant.pk, kind, value), source=fields.pop("source", "spaces_occupancy"),
                  observed_at=fields.pop("observed_at", timezone.now()), **fields)


def test_each_key_kind_finds_the_room_of_that_tenant_only(rooms):
    acme, fjord, theirs = rooms
    result = record([
        signal(acme, "spaces_location", "loc-1", people_count=2),
        signal(acme, "webex_workspace", "ws-1", source="webex", present=True),
        signal(acme, "room", str(fjord.pk), source="spaces_camera", people_count=1),
        # Another tenant's location id: for Acme it is a location it has not mapped, kept as Acme's, never theirs.
        signal(acme, "spaces_location", "loc-2", people_count=9),
        signal(acme, "room", str(theirs.pk), people_count=9),  # another tenant's room id
        signal(acme, "room", "not-a-number", people_count=9),
    ])
    assert (result.accepted, result.pending, result.refused) == (3, 1, {"unknown_room": 2})
    assert set(OccupancySignal.objects.values_list("room_id", flat=True)) == {fjord.pk}
    assert list(PendingSignal.objects.values_list("tenant_id", "kind", "key")) == [
        (acme.pk, "spaces_location", "loc-2")]


def test_far_past_and_future_timestamps_are_refused(rooms):
    acme, _, _ = rooms
    now = timezone.now()
    result = record([signal(acme, "spaces_location", "loc-1", observed_at=now + timedelta(hours=1)),
                     signal(acme, "spaces_location", "loc-1", observed_at=now - timedelta(days=30))])
    assert result.accepted == 0 and result.refused == {"out_of_range_time": 2}


def test_a_late_older_signal_is_kept_but_does_not_roll_the_state_back(rooms):
    acme, fjord, _ = rooms
    now = timezone.now()
    record([signal(acme, "spaces_location", "loc-1", observed_at=now, present=True, people_count=4)])
    record([signal(acme, "spaces_location", "loc-1", observed_at=now - timedelta(minutes=5), present=False,
                   people_count=0)])
    state = RoomSourceState.objects.get(room=fjord)
    assert (state.present, state.people_count, state.observed_at) == (True, 4, now)
    assert OccupancySignal.objects.count() == 2


def test_unknown_values_stay_unknown(rooms):
    acme, fjord, _ = rooms
    record([signal(acme, "webex_workspace", "ws-1", source="webex", present=None, people_count=None)])
    state = RoomSourceState.objects.get(room=fjord, source="webex")
    assert state.present is None and state.people_count is None
