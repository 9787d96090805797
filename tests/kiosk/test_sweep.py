"""Documents that run out of time together are rebuilt in one batch (``occupancy.kiosk.sweep``)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from occupancy.kiosk import documents, queries
from occupancy.kiosk.models import KioskRoomStatus
from spaces_calendar.core.models import Room

from .conftest import book, minutes


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


def _expire(*rooms) -> None:
    KioskRoomStatus.objects.filter(room__in=rooms).update(valid_until_ts=time.time() - 1)


def _computed(room) -> float:
    return KioskRoomStatus.objects.get(room=room).computed_at.timestamp()


def test_the_first_out_of_date_poll_rebuilds_the_tenants_other_out_of_date_rooms(world, kiosk):
    now = timezone.now()
    book(world.glacier, now - minutes(40), now - minutes(1))
    for room in (world.fjord, world.glacier, world.harbor, world.dock, world.war_room):
        documents.rebuild([room.pk], now - minutes(2))
    _expire(world.fjord, world.glacier, world.dock, world.war_room)
    KioskRoomStatus.objects.filter(room=world.harbor).delete()  # missing counts as out of date
    before = {room.pk: KioskRoomStatus.objects.filter(room=room).first() for room in (world.dock, world.war_room)}

    assert kiosk.status(world.fjord).status_code == 200

    rebuilt = KioskRoomStatus.objects.filter(computed_at__gt=now - minutes(1))
    # The tenant's out-of-date rooms, in the kiosk's scope or not (Dock is in the Annex): one batch.
    assert set(rebuilt.values_list("room_id", flat=True)) == {world.fjord.pk, world.glacier.pk, world.harbor.pk,
                                                               world.dock.pk}
    assert KioskRoomStatus.objects.get(room=world.war_room).computed_at == before[world.war_room.pk].computed_at
    # What the batch stored is what a poll of that room then serves, with no rebuild.
    glacier = KioskRoomStatus.objects.get(room=world.glacier)
    response = kiosk.status(world.glacier)
    assert response["ETag"] == f'W/"{glacier.etag}"' and response.json()["current_booking"] is None
    assert _computed(world.glacier) == glacier.computed_at.timestamp()


def test_rooms_still_in_time_are_left_alone(world, kiosk):
    now = timezone.now()
    documents.rebuild([world.fjord.pk, world.glacier.pk, world.harbor.pk], now)
    stamp = _computed(world.glacier)
    _expire(world.fjord)
    assert kiosk.status(world.fjord).status_code == 200
    assert _computed(world.glacier) == stamp and _computed(world.fjord) > stamp


def test_out_of_date_lists_only_the_tenants_missing_and_expired_rooms(world):
    documents.rebuild([world.fjord.pk, world.glacier.pk, world.war_room.pk], timezone.now())
    _expire(world.glacier, world.war_room)
    due = queries.out_of_date(world.acme.pk, time.time(), limit=10)
    assert {row.room_id for row in due} == {world.glacier.pk, world.harbor.pk, world.dock.pk}
    assert all(row.entry is None and row.tenant_id == world.acme.pk for row in due)
    assert len(queries.out_of_date(world.acme.pk, time.time(), limit=2)) == 2


def test_a_large_batch_is_stored_whole_and_served_as_built(world, kiosk):
    rooms = [Room.objects.create(floor=world.first, name=f"Pod {n:02}", capacity=2) for n in range(30)]
    now = timezone.now()
    for index, room in enumerate(rooms):
        book(room, now + minutes(10 + index), now + minutes(40 + index), subject=f"Pod meeting {index}")
    entries = documents.rebuild([room.pk for room in rooms], now)  # 30 >= the COPY threshold on PostgreSQL
    stored = {row.room_id: row for row in KioskRoomStatus.objects.filter(room__in=rooms)}
    assert len(stored) == 30
    for room in rooms:
        assert stored[room.pk].etag == entries[room.pk].etag and stored[room.pk].body == entries[room.pk].body
    body = kiosk.status(rooms[7]).json()
    assert body["room"]["name"] == "Pod 07" and body["free_until"] is not None


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at commit, as in production's autocommit
def test_a_batch_naming_a_deleted_room_stores_nothing_and_does_not_fail(world):
    rooms = [Room.objects.create(floor=world.first, name=f"Booth {n:02}") for n in range(25)]
    now = timezone.now()
    documents.rebuild([room.pk for room in rooms], now)
    rows = list(KioskRoomStatus.objects.filter(room__in=rooms))
    for row in rows:
        row.etag = "changed"
    gone = Room.objects.create(floor=world.first, name="Gone")
    rows.append(KioskRoomStatus(room_id=gone.pk, etag="x", body="x", valid_until_ts=0, bookings_from=now,
                                booking_version="", recent_after=now, occupancy_version="", computed_at=now))
    gone.delete()
    documents._store(rows)  # the room vanished between building and storing: logged, nothing stored
    assert not KioskRoomStatus.objects.filter(room__in=rooms, etag="changed").exists()
