"""GET /api/v1/rooms/{id}/status and /api/v1/rooms/status: documents, ETags and what changes them."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from occupancy.kiosk import documents
from occupancy.kiosk.models import KioskRoomStatus
from occupancy.models import OccupancyPolicy
from spaces_calendar.calendars.bookings import ApplyCounts, apply_events
from spaces_calendar.calendars.models import CalendarConnection, CalendarLink
from spaces_calendar.calendars.remote import RemoteEvent

from .conftest import book, minutes, sense


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


def test_it_serves_a_booked_and_occupied_room(world, kiosk):
    now = timezone.now()
    book(world.fjord, now - minutes(5), now + minutes(25))
    book(world.fjord, now + minutes(25), now + minutes(55))
    book(world.fjord, now + minutes(90), now + minutes(120), subject="Retro")
    sense(world.fjord, present=True, people=3, at=now - timedelta(seconds=30))

    response = kiosk.status(world.fjord)

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, max-age=5" and response["ETag"].startswith('W/"')
    body = response.json()
    assert body["room"] == {"id": world.fjord.pk, "name": "Fjord", "capacity": 8, "time_zone": "Europe/Oslo",
                            "floor": {"id": world.first.pk, "name": "1"},
                            "building": {"id": world.hq.pk, "name": "HQ"}}
    assert body["state"] == "busy"
    assert body["busy_until"] == _z(now + minutes(55)) and body["free_until"] is None
    assert body["current_booking"] == {"start": _z(now - minutes(5)), "end": _z(now + minutes(25)),
                                       "all_day": False, "subject": None}
    assert body["next_booking"]["start"] == _z(now + minutes(25))
    assert body["occupancy"] == {"state": "occupied", "people_count": 3,
                                 "observed_at": _z(now - timedelta(seconds=30)), "sources": ["webex"]}
    assert 29 <= body["data_age_s"] <= 32
    assert body["source"] == {"calendar": True, "sensors": ["webex"]}


def test_a_calendar_only_room_has_no_sensor_data(world, kiosk):
    now = timezone.now()
    book(world.glacier, now + minutes(30), now + minutes(60))
    body = kiosk.status(world.glacier).json()
    assert body["state"] == "free" and body["free_until"] == _z(now + minutes(30))
    assert body["occupancy"] == {"state": "unknown", "people_count": None, "observed_at": None, "sources": []}
    assert body["data_age_s"] is None and body["source"] == {"calendar": True, "sensors": []}


def test_a_linked_calendar_without_bookings_still_counts_as_a_calendar(world, kiosk):
    connection = CalendarConnection.objects.create(tenant=world.acme, provider="microsoft")
    CalendarLink.objects.create(connection=connection, room=world.glacier, external_calendar_id="glacier@acme")
    assert kiosk.status(world.glacier).json()["source"]["calendar"] is True
    assert kiosk.status(world.harbor).json()["source"]["calendar"] is False


def test_a_sensor_only_room_is_busy_when_occupied_and_free_when_empty(world, kiosk):
    sense(world.harbor, present=True, people=5, source="spaces_camera")
    body = kiosk.status(world.harbor).json()
    assert (body["state"], body["busy_until"], body["next_booking"]) == ("busy", None, None)
    assert body["source"] == {"calendar": False, "sensors": ["spaces_camera"]}
    sense(world.harbor, present=False, people=0, source="spaces_camera")
    assert kiosk.status(world.harbor).json()["state"] == "free"


def test_subjects_show_only_when_the_tenant_allows_and_never_private_ones(world, kiosk):
    now = timezone.now()
    book(world.fjord, now - minutes(5), now + minutes(25), subject="Board meeting")
    book(world.fjord, now + minutes(30), now + minutes(60), subject="", private=True)
    assert kiosk.status(world.fjord).json()["current_booking"]["subject"] is None

    OccupancyPolicy.objects.create(tenant=world.acme, show_subjects=True)
    KioskRoomStatus.objects.all().delete()  # the policy is not fingerprinted: it applies within the max age
    body = kiosk.status(world.fjord).json()
    assert body["current_booking"]["subject"] == "Board meeting" and body["next_booking"]["subject"] is None


def test_the_same_status_is_304_with_its_etag(world, kiosk):
    book(world.fjord, timezone.now() + minutes(30), timezone.now() + minutes(60))
    first = kiosk.status(world.fjord)
    again = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "private, max-age=5"
    # Weak comparison, lists and *.
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=f'"x", {first["ETag"][2:]}').status_code == 304
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH="*").status_code == 304
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH='W/"other"').status_code == 200


def test_a_new_booking_changes_the_etag_at_once(world, kiosk):
    etag = kiosk.status(world.fjord)["ETag"]
    now = timezone.now()
    book(world.fjord, now - minutes(1), now + minutes(30))
    response = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response["ETag"] != etag
    assert response.json()["state"] == "busy"


def test_a_cancelled_moved_or_deleted_booking_changes_the_etag_at_once(world, kiosk):
    now = timezone.now()
    booking = book(world.fjord, now + minutes(10), now + minutes(40))
    etag = kiosk.status(world.fjord)["ETag"]

    booking.start, booking.end = now + minutes(20), now + minutes(50)
    booking.save()
    moved = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)
    assert moved.status_code == 200 and moved.json()["free_until"] == _z(now + minutes(20))

    booking.cancelled = True
    booking.save()
    cancelled = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=moved["ETag"])
    assert cancelled.status_code == 200 and cancelled.json()["next_booking"] is None

    other = book(world.fjord, now + minutes(70), now + minutes(80))
    etag = kiosk.status(world.fjord)["ETag"]
    other.delete()
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_calendar_sync_changes_the_etag_at_once(world, kiosk):
    """Bookings written by the sync (bulk writes, in a worker in production) are seen without any signal."""
    connection = CalendarConnection.objects.create(tenant=world.acme, provider="microsoft")
    link = CalendarLink.objects.create(connection=connection, room=world.fjord, external_calendar_id="fjord@acme")
    etag = kiosk.status(world.fjord)["ETag"]
    now = timezone.now()
    counts = apply_events(link, [RemoteEvent(external_id="e1", subject="Sync", start=now - minutes(2),
                                             end=now + minutes(28))])
    assert counts == ApplyCounts(created=1)
    response = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["state"] == "busy"  # booked, no sensor


def test_an_occupancy_change_changes_the_etag_at_once(world, kiosk):
    sense(world.fjord, present=False, people=0)
    etag = kiosk.status(world.fjord)["ETag"]
    sense(world.fjord, present=True, people=2)
    response = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["occupancy"]["state"] == "occupied"
    etag = response["ETag"]
    sense(world.fjord, present=True, people=4)  # a count change is a change too
    response = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["occupancy"]["people_count"] == 4


def test_a_sensor_repeating_itself_neither_rebuilds_nor_changes_the_etag_but_the_age_is_live(world, kiosk):
    now = timezone.now()
    sense(world.fjord, present=True, people=2, at=now - timedelta(seconds=40))
    first = kiosk.status(world.fjord)
    built = KioskRoomStatus.objects.get(room=world.fjord).computed_at
    sense(world.fjord, present=True, people=2, at=now)

    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    again = kiosk.status(world.fjord)
    assert again["ETag"] == first["ETag"] and KioskRoomStatus.objects.get(room=world.fjord).computed_at == built
    assert first.json()["data_age_s"] >= 40 and again.json()["data_age_s"] <= 2
    assert again.json()["occupancy"]["observed_at"] == _z(now)


def test_a_stale_source_reporting_again_rebuilds_at_once(world, kiosk):
    now = timezone.now()
    sense(world.fjord, present=True, people=2, at=now - minutes(100))  # silent past its full-report interval
    stale = kiosk.status(world.fjord)
    assert stale.json()["occupancy"]["state"] == "unknown"
    sense(world.fjord, present=True, people=2, at=now)  # the same values, but fresh again
    response = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=stale["ETag"])
    assert response.status_code == 200 and response.json()["state"] == "busy"


def test_the_status_is_rebuilt_when_a_booking_boundary_passes(world, kiosk):
    now = timezone.now()
    book(world.fjord, now - minutes(1), now + minutes(30))
    # Built two minutes ago, before the booking started: valid until its start, which has passed.
    documents.rebuild([world.fjord.pk], now - minutes(2))
    stored = KioskRoomStatus.objects.get(room=world.fjord)
    assert stored.valid_until_ts == pytest.approx((now - minutes(1)).timestamp())
    assert kiosk.status(world.fjord).json()["state"] == "busy"
    assert KioskRoomStatus.objects.get(room=world.fjord).computed_at > stored.computed_at


def test_a_stored_document_is_served_without_rebuilding(world, kiosk, django_assert_num_queries):
    kiosk.status(world.fjord)
    # Token cached, document stored: the one request query runs on the driver's cursor, out of Django's sight.
    with django_assert_num_queries(0):
        assert kiosk.status(world.fjord).status_code == 200


@pytest.mark.parametrize("prepared", [True, False])
def test_a_poll_reads_the_same_with_and_without_prepared_statements(world, kiosk_for, settings, prepared):
    """KIOSK_PREPARED_STATEMENTS only changes how PostgreSQL runs the poll's statements (SQLite ignores it)."""
    settings.KIOSK_PREPARED_STATEMENTS = prepared
    now = timezone.now()
    book(world.fjord, now - minutes(5), now + minutes(25))
    sense(world.fjord, present=True, people=3)
    kiosk = kiosk_for(rooms=[world.fjord])
    first = kiosk.status(world.fjord)  # token read with the room
    again = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=first["ETag"])  # token remembered
    assert first.status_code == 200 and first.json()["state"] == "busy" and again.status_code == 304
    assert kiosk.status(world.glacier).status_code == 403


def test_many_rooms_in_one_call_in_the_tokens_scope_by_name(world, kiosk):
    now = timezone.now()
    book(world.harbor, now - minutes(3), now + minutes(30))
    response = kiosk.get("/api/v1/rooms/status")
    assert response.status_code == 200 and response["ETag"].startswith('W/"')
    rooms = response.json()["rooms"]
    assert [room["room"]["name"] for room in rooms] == ["Fjord", "Glacier", "Harbor"]  # not Dock (Annex)
    assert [room["state"] for room in rooms] == ["free", "free", "busy"]

    floor = kiosk.get(f"/api/v1/rooms/status?floor={world.second.pk}").json()["rooms"]
    assert [room["room"]["name"] for room in floor] == ["Harbor"]
    building = kiosk.get(f"/api/v1/rooms/status?building={world.hq.pk}&floor={world.first.pk}").json()["rooms"]
    assert [room["room"]["name"] for room in building] == ["Fjord", "Glacier"]


def test_the_list_etag_changes_when_any_room_changes(world, kiosk):
    etag = kiosk.get("/api/v1/rooms/status")["ETag"]
    assert kiosk.get("/api/v1/rooms/status", HTTP_IF_NONE_MATCH=etag).status_code == 304
    sense(world.glacier, present=True, people=1)
    changed = kiosk.get("/api/v1/rooms/status", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_an_in_scope_building_the_filter_excludes_gives_an_empty_list(world, kiosk_for):
    kiosk = kiosk_for(floor=world.first)
    response = kiosk.get(f"/api/v1/rooms/status?floor={world.second.pk}")
    assert response.status_code == 200 and response.json() == {"rooms": []}


def test_a_room_deleted_after_its_document_was_stored_is_gone(world, kiosk):
    kiosk.status(world.glacier)
    room_id = world.glacier.pk
    world.glacier.delete()
    assert kiosk.get(f"/api/v1/rooms/{room_id}/status").status_code == 404


def _z(moment) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def test_a_renamed_room_floor_or_building_shows_at_the_next_poll(world, kiosk):
    documents.rebuild([world.dock.pk], timezone.now())
    before = kiosk.status(world.fjord)
    world.fjord.name, world.fjord.capacity = "Fjord (large)", 10
    world.fjord.save()
    body = kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=before["ETag"]).json()
    assert (body["room"]["name"], body["room"]["capacity"]) == ("Fjord (large)", 10)
    world.first.name = "Ground"
    world.first.save()
    world.hq.name = "Headquarters"
    world.hq.save()
    body = kiosk.status(world.fjord).json()
    assert (body["room"]["floor"]["name"], body["room"]["building"]["name"]) == ("Ground", "Headquarters")
    # Only that building's rooms were dropped: the Annex keeps its stored document.
    assert KioskRoomStatus.objects.filter(room=world.dock).exists()
