"""Kiosk polls answered from memory on PostgreSQL, and every way a change still reaches them.

These tests commit their writes (``transaction=True``): NOTIFY is delivered at commit, so the rolled-back writes of
ordinary tests would never be heard. The listener is the real one, on its own connection to the test database; one
write comes from another operating-system process. "Silently" below means with triggers off
(``session_replication_role = replica``): the database changes and nobody is told, which shows whether a poll read
the database or memory.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from occupancy import rules
from occupancy.kiosk import changes, memory
from occupancy.kiosk.models import KioskRoomStatus, KioskToken
from occupancy.kiosk.status import isoformat as _z
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room

from .conftest import book, minutes, sense

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feed(settings, world):
    if connection.vendor != "postgresql":
        pytest.skip("the change feed is PostgreSQL's LISTEN/NOTIFY; on SQLite every poll reads the database")
    settings.KIOSK_CHANGE_FEED = True
    # Without the feed a revoked token would keep working here for an hour: what ends it below is the feed.
    settings.KIOSK_TOKEN_CACHE_S = 3600
    live = changes.feed()
    assert live is not None and live.wait_live(10)
    yield live
    changes.shut_down()


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


def eventually(check, timeout: float = 5.0):
    """``check()`` until it returns something true (what it returns), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "no change within the time limit"
        time.sleep(0.02)


def silently(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def remembered(kiosk, room) -> str:
    """Poll until the room is answered from memory; its ETag."""
    def poll() -> str | None:
        etag = kiosk.status(room)["ETag"]
        return etag if memory.recall(room.pk, time.time()) else None

    return eventually(poll)


def test_healthz_says_the_feed_is_listening(feed, client):
    assert client.get("/healthz").json()["checks"]["kiosk_change_feed"] == {"ok": True, "state": "listening"}


def test_an_unchanged_room_is_answered_from_memory(feed, world, kiosk):
    now = timezone.now()
    booking = book(world.fjord, now - minutes(5), now + minutes(25), subject="Planning")
    etag = remembered(kiosk, world.fjord)
    silently("UPDATE occupancy_kioskroomstatus SET etag = 'forged', body = 'forged' WHERE room_id = %s",
             [world.fjord.pk])
    silently("UPDATE calendars_booking SET \"end\" = %s WHERE id = %s", [now + minutes(50), booking.pk])

    response = kiosk.status(world.fjord)
    assert response.status_code == 200 and response["ETag"] == etag
    assert response.json()["current_booking"]["end"] == _z(now + minutes(25))  # memory, not the database
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_booking_written_by_another_process_shows_within_moments(feed, world, kiosk):
    now = timezone.now()
    etag = remembered(kiosk, world.fjord)
    assert kiosk.status(world.fjord).json()["state"] == "free"
    start, end = now - minutes(1), now + minutes(30)
    script = ("import sys, psycopg\n"
              "with psycopg.connect(sys.argv[1], autocommit=True) as conn:\n"
              "    conn.execute('INSERT INTO calendars_booking (room_id, external_id, ical_uid, series_id, subject, "
              "organizer_hash, attendee_count, start, \"end\", all_day, private, cancelled, updated_at) VALUES "
              "(%s, %s, %s, %s, %s, %s, NULL, %s, %s, false, false, false, now())', "
              "(int(sys.argv[2]), 'from-elsewhere', '', '', 'Elsewhere', '', sys.argv[3], sys.argv[4]))\n")
    subprocess.run([sys.executable, "-c", script, _dsn(), str(world.fjord.pk), start.isoformat(), end.isoformat()],
                   check=True, timeout=30)

    fresh = eventually(lambda: (r := kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag)).status_code == 200 and r)
    body = fresh.json()
    assert fresh["ETag"] != etag and body["current_booking"]["end"] == _z(end)
    assert body["state"] in {"pending", "busy"}


def test_a_moved_and_a_cancelled_booking_show(feed, world, kiosk):
    now = timezone.now()
    booking = book(world.fjord, now + minutes(30), now + minutes(60))
    remembered(kiosk, world.fjord)
    Booking.objects.filter(pk=booking.pk).update(start=now + minutes(40), updated_at=timezone.now())
    eventually(lambda: kiosk.status(world.fjord).json()["next_booking"]["start"] == _z(now + minutes(40)))
    remembered(kiosk, world.fjord)
    Booking.objects.filter(pk=booking.pk).update(cancelled=True, updated_at=timezone.now())
    eventually(lambda: kiosk.status(world.fjord).json()["next_booking"] is None)


def test_a_sensor_reading_shows_within_moments(feed, world, kiosk):
    sense(world.harbor, present=False, people=0, at=timezone.now() - timedelta(seconds=20))
    remembered(kiosk, world.harbor)
    moment = timezone.now()
    sense(world.harbor, present=True, people=4, at=moment)
    body = eventually(lambda: (b := kiosk.status(world.harbor).json())["occupancy"]["people_count"] == 4 and b)
    assert body["state"] == "busy" and body["occupancy"]["observed_at"] == _z(moment)


def test_a_token_revoked_elsewhere_stops_working_at_once(feed, world):
    _token, raw = _issue(world, rooms=[world.fjord])
    kiosk = _kiosk(raw)
    remembered(kiosk, world.fjord)
    # Another process revokes it (this process's token memory is not told directly, unlike revoke_token).
    KioskToken.objects.filter(prefix=raw[3:11]).update(revoked_at=timezone.now())
    eventually(lambda: kiosk.status(world.fjord).status_code == 401, timeout=3)


def test_a_room_taken_out_of_a_tokens_scope_is_refused_at_once(feed, world):
    token, raw = _issue(world, rooms=[world.fjord, world.glacier])
    kiosk = _kiosk(raw)
    remembered(kiosk, world.fjord)
    token.rooms.remove(world.fjord)
    eventually(lambda: kiosk.status(world.fjord).status_code == 403, timeout=3)
    assert kiosk.status(world.glacier).status_code == 200


def test_a_room_moved_to_another_floor_follows_its_floor(feed, world):
    _token, raw = _issue(world, floor=world.first)
    kiosk = _kiosk(raw)
    remembered(kiosk, world.fjord)
    world.fjord.floor = world.second
    world.fjord.save()
    eventually(lambda: kiosk.status(world.fjord).status_code == 403, timeout=3)


def test_a_rules_change_reaches_remembered_rooms(feed, world, kiosk):
    now = timezone.now()
    book(world.fjord, now - minutes(5), now + minutes(25), subject="Board meeting")
    remembered(kiosk, world.fjord)
    assert kiosk.status(world.fjord).json()["current_booking"]["subject"] is None
    rules.save_policy(world.acme, grace_minutes=10, exempt_after_hours=8, show_subjects=True)
    eventually(lambda: kiosk.status(world.fjord).json()["current_booking"]["subject"] == "Board meeting")


def test_while_the_listener_is_down_every_poll_reads_the_database(feed, world, kiosk):
    now = timezone.now()
    booking = book(world.fjord, now + minutes(30), now + minutes(60))
    remembered(kiosk, world.fjord)
    name = connection.settings_dict["NAME"]
    down_pid = feed.listener_pid
    # A database refuses to bar connections to itself: this is said from the maintenance database.
    with psycopg.connect(_dsn(dbname="postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')  # it cannot come back yet
        try:
            admin.execute("SELECT pg_terminate_backend(%s)", [down_pid])
            eventually(lambda: not feed.live)
            assert memory.recall(world.fjord.pk, time.time()) is None  # dropped with the connection
            # Changes now reach no listener; each poll must read them.
            for minute in (70, 80):
                silently("UPDATE calendars_booking SET \"end\" = %s, updated_at = now() WHERE id = %s",
                         [now + minutes(minute), booking.pk])
                assert kiosk.status(world.fjord).json()["next_booking"]["end"] == _z(now + minutes(minute))
            time.sleep(0.6)  # past the first reconnection attempt, which fails
            assert not feed.live and memory.recall(world.fjord.pk, time.time()) is None
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert feed.wait_live(40) and feed.listener_pid != down_pid
    # A change made while it was gone, that nobody will ever announce: seen, since memory started afresh.
    silently("UPDATE calendars_booking SET \"end\" = %s, updated_at = now() WHERE id = %s",
             [now + minutes(90), booking.pk])
    assert kiosk.status(world.fjord).json()["next_booking"]["end"] == _z(now + minutes(90))


def test_a_truncated_table_forgets_everything(feed, world, kiosk):
    remembered(kiosk, world.fjord)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE occupancy_kioskroomstatus")
    eventually(lambda: memory.recall(world.fjord.pk, time.time()) is None, timeout=3)
    assert not KioskRoomStatus.objects.exists()


def _issue(world, **scope):
    from occupancy.kiosk import tokens

    return tokens.issue_token(world.acme, "Panel", **scope)


def _kiosk(raw):
    from .conftest import Kiosk

    return Kiosk(raw)


def _dsn(dbname: str | None = None) -> str:
    params = connection.settings_dict
    return (f"host={params['HOST'] or '127.0.0.1'} port={params['PORT'] or 5432} dbname={dbname or params['NAME']} "
            f"user={params['USER']}" + (f" password={params['PASSWORD']}" if params["PASSWORD"] else ""))



def _names(kiosk, **params) -> list[str]:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return [room["room"]["name"] for room in kiosk.get(f"/api/v1/rooms/status?{query}").json()["rooms"]]


def _floor_remembered(kiosk, world) -> str:
    def poll() -> str | None:
        response = kiosk.get(f"/api/v1/rooms/status?floor={world.first.pk}")
        rooms = [world.fjord.pk, world.glacier.pk]
        if any(selection.floor_id == world.first.pk for selection in memory._lists) and all(
                memory.recall(pk, time.time()) for pk in rooms):
            return response["ETag"]
        return None

    return eventually(poll)


def test_a_floor_screen_is_answered_from_memory(feed, world, kiosk):
    etag = _floor_remembered(kiosk, world)
    silently("UPDATE occupancy_kioskroomstatus SET body = 'forged' WHERE room_id = %s", [world.glacier.pk])
    silently("UPDATE core_room SET name = 'Zzz' WHERE id = %s", [world.fjord.pk])
    response = kiosk.get(f"/api/v1/rooms/status?floor={world.first.pk}")
    assert response.status_code == 200 and response["ETag"] == etag
    assert [room["room"]["name"] for room in response.json()["rooms"]] == ["Fjord", "Glacier"]


def test_a_floor_screen_shows_a_new_a_renamed_and_a_removed_room_at_once(feed, world, kiosk):
    _floor_remembered(kiosk, world)
    pod = Room.objects.create(floor=world.first, name="Atrium", capacity=3)
    eventually(lambda: _names(kiosk, floor=world.first.pk) == ["Atrium", "Fjord", "Glacier"], timeout=3)
    _floor_remembered(kiosk, world)
    world.glacier.name = "Aurora"
    world.glacier.save()
    eventually(lambda: _names(kiosk, floor=world.first.pk) == ["Atrium", "Aurora", "Fjord"], timeout=3)
    pod.delete()
    eventually(lambda: _names(kiosk, floor=world.first.pk) == ["Aurora", "Fjord"], timeout=3)


def test_a_booking_in_one_room_changes_the_floor_screen(feed, world, kiosk):
    etag = _floor_remembered(kiosk, world)
    now = timezone.now()
    book(world.glacier, now - minutes(1), now + minutes(29), subject="Standup")
    fresh = eventually(lambda: (r := kiosk.get(f"/api/v1/rooms/status?floor={world.first.pk}",
                                               HTTP_IF_NONE_MATCH=etag)).status_code == 200 and r, timeout=3)
    glacier = next(room for room in fresh.json()["rooms"] if room["room"]["id"] == world.glacier.pk)
    assert glacier["current_booking"]["end"] == _z(now + minutes(29))
