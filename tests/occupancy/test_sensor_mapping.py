"""Mapping sensor sources to rooms: history sent before the mapping is applied when it appears, one source of a kind
per room, never another tenant's room; and the catalogue of sources the Sensors page lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, record
from occupancy.models import BookingOutcome, OccupancySignal, PendingSignal, SensorSource
from occupancy.sensors import MappingError, Seen, map_source, note_seen, prune_pending, unmap_source
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


@pytest.fixture
def acme():
    tenant = make_tenant("Acme")
    return tenant, make_room(tenant, "Fjord"), make_room(tenant, "Glacier", spaces_location_id="loc-glacier")


def camera(tenant, location: str, at, people: int) -> Signal:
    return Signal(RoomKey(tenant.pk, "spaces_location", location), "spaces_camera", at, present=people > 0,
                  people_count=people)


def test_signals_before_the_mapping_are_kept_and_applied_when_it_appears(acme):
    tenant, fjord, _ = acme
    now = timezone.now()
    start = now - timedelta(hours=2)
    ghost = Booking.objects.create(room=fjord, external_id="g", start=start, end=start + 30 * MIN)
    result = record([camera(tenant, "loc-fjord", start - 30 * MIN, 0)], now=now)
    assert (result.accepted, result.pending) == (0, 1)
    assert not OccupancySignal.objects.exists()

    mapped = map_source(tenant, "spaces_location", "loc-fjord", fjord, now=now)

    assert mapped.adopted == 1 and not PendingSignal.objects.exists()
    assert Room.objects.get(pk=fjord.pk).spaces_location_id == "loc-fjord"
    assert OccupancySignal.objects.get().room_id == fjord.pk
    # The room's range was recomputed: the camera's zero from before the booking holds through it.
    assert BookingOutcome.objects.get(booking=ghost).outcome == "ghost"
    # From now on the stream's signals go straight to the room.
    assert record([camera(tenant, "loc-fjord", now - MIN, 3)], now=now).accepted == 1


def test_a_room_takes_one_source_of_a_kind_and_a_source_one_room(acme):
    tenant, fjord, glacier = acme
    with pytest.raises(MappingError, match="already mapped to Cisco Spaces location loc-glacier"):
        map_source(tenant, "spaces_location", "loc-other", glacier)
    with pytest.raises(MappingError, match="already mapped to Glacier"):
        map_source(tenant, "spaces_location", "loc-glacier", fjord)
    # A Webex workspace is another kind: the same room may have one of each.
    map_source(tenant, "webex_workspace", "ws-glacier", glacier)
    assert Room.objects.get(pk=glacier.pk).webex_workspace_id == "ws-glacier"


def test_another_tenants_room_is_refused_and_pending_signals_stay_with_their_tenant(acme):
    tenant, _, _ = acme
    other = make_tenant("Other")
    theirs = make_room(other, "Theirs")
    record([camera(tenant, "loc-x", timezone.now() - MIN, 1)])
    with pytest.raises(MappingError, match="not one of this workplace"):
        map_source(tenant, "spaces_location", "loc-x", theirs)
    # The other tenant mapping a location of the same id gets none of Acme's history.
    assert map_source(other, "spaces_location", "loc-x", theirs).adopted == 0
    assert PendingSignal.objects.get().tenant_id == tenant.pk


def test_unmapping_keeps_the_rooms_signals_and_sends_new_ones_to_pending(acme):
    tenant, _, glacier = acme
    record([camera(tenant, "loc-glacier", timezone.now() - 2 * MIN, 2)])
    assert unmap_source(tenant, "spaces_location", glacier) == "loc-glacier"
    assert OccupancySignal.objects.filter(room=glacier).count() == 1
    assert record([camera(tenant, "loc-glacier", timezone.now() - MIN, 0)]).pending == 1


def test_pending_signals_older_than_the_maximum_signal_age_are_pruned(acme, settings):
    tenant, _, _ = acme
    now = timezone.now()
    record([camera(tenant, "loc-old", now - timedelta(hours=2), 1), camera(tenant, "loc-new", now - MIN, 1)])
    settings.OCCUPANCY_MAX_SIGNAL_AGE_S = 3600
    assert prune_pending(now) == 1
    assert list(PendingSignal.objects.values_list("key", flat=True)) == ["loc-new"]


def test_the_catalogue_keeps_what_each_sighting_adds_and_writes_repeats_rarely(acme):
    tenant, _, _ = acme
    now = timezone.now()
    assert note_seen([Seen(tenant.pk, "spaces_location", "loc-1", "Fjord", "Oslo / HQ / Floor 3", "ZONE",
                           "loc-floor", "Europe/Oslo")], now) == 1
    assert note_seen([Seen(tenant.pk, "spaces_location", "loc-1", signal_source="spaces_camera")], now) == 1
    assert note_seen([Seen(tenant.pk, "spaces_location", "loc-1", signal_source="spaces_camera")], now) == 0
    source = SensorSource.objects.get()
    assert (source.name, source.hierarchy, source.time_zone, source.signal_sources) == (
        "Fjord", "Oslo / HQ / Floor 3", "Europe/Oslo", "spaces_camera")
    assert source.last_signal_at == now
