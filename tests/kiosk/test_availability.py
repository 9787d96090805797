"""GET /api/v1/rooms/available: rooms in scope free for an interval."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from .conftest import book, minutes, sense


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


def available(kiosk, start, end, **params) -> list[str]:
    response = kiosk.get("/api/v1/rooms/available?" + urlencode({"from": start.isoformat(), "to": end.isoformat(),
                                                                 **params}))
    assert response.status_code == 200, response.content
    return [room["name"] for room in response.json()["rooms"]]


def test_rooms_with_an_overlapping_booking_are_not_available(world, kiosk):
    start = timezone.now() + timedelta(hours=2)
    book(world.fjord, start + minutes(50), start + minutes(90))    # overlaps the end
    book(world.glacier, start - minutes(30), start + minutes(1))  # overlaps the start
    assert available(kiosk, start, start + minutes(60)) == ["Harbor"]


def test_bookings_that_only_touch_the_interval_do_not_count(world, kiosk):
    start = timezone.now() + timedelta(hours=2)
    book(world.fjord, start - minutes(60), start)
    book(world.fjord, start + minutes(60), start + minutes(120))
    assert "Fjord" in available(kiosk, start, start + minutes(60))


def test_cancelled_bookings_do_not_count(world, kiosk):
    start = timezone.now() + timedelta(hours=2)
    book(world.fjord, start, start + minutes(60), cancelled=True)
    assert "Fjord" in available(kiosk, start, start + minutes(60))


def test_capacity_and_place_filters(world, kiosk):
    start = timezone.now() + timedelta(hours=2)
    assert available(kiosk, start, start + minutes(30), capacity=8) == ["Fjord", "Harbor"]
    assert available(kiosk, start, start + minutes(30), capacity=9) == ["Harbor"]
    assert available(kiosk, start, start + minutes(30), floor=world.first.pk) == ["Fjord", "Glacier"]
    assert available(kiosk, start, start + minutes(30), building=world.hq.pk, capacity=100) == []


def test_a_room_occupied_now_is_not_available_now_but_is_later(world, kiosk):
    sense(world.fjord, present=True, people=2)
    sense(world.glacier, present=False, people=0)
    now = timezone.now()
    assert available(kiosk, now, now + minutes(30)) == ["Glacier", "Harbor"]
    assert available(kiosk, now + minutes(3), now + minutes(30)) == ["Glacier", "Harbor"]  # now-ish
    assert available(kiosk, now + minutes(30), now + minutes(60)) == ["Fjord", "Glacier", "Harbor"]


def test_unknown_occupancy_does_not_hide_a_room(world, kiosk):
    # Silent for longer than a Webex device's full-report interval: no longer believed.
    sense(world.fjord, present=True, people=2, at=timezone.now() - minutes(100))
    now = timezone.now()
    assert "Fjord" in available(kiosk, now, now + minutes(30))


def test_the_answer_names_the_interval_and_the_rooms(world, kiosk):
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = kiosk.get("/api/v1/rooms/available?" + urlencode(
        {"from": start.isoformat(), "to": (start + minutes(45)).isoformat(), "capacity": 12}))
    body = response.json()
    assert body["from"] == start.isoformat().replace("+00:00", "Z") and body["capacity"] == 12
    assert body["rooms"] == [{"id": world.harbor.pk, "name": "Harbor", "capacity": 12, "time_zone": "Europe/Oslo",
                              "floor": {"id": world.second.pk, "name": "2"},
                              "building": {"id": world.hq.pk, "name": "HQ"}}]


def test_offsets_other_than_utc_are_understood(world, kiosk):
    start = timezone.now() + timedelta(hours=3)
    book(world.fjord, start, start + minutes(30))
    local = start.astimezone(timezone.get_fixed_timezone(120))
    assert "Fjord" not in available(kiosk, local, local + minutes(30))


def test_from_equal_to_to_asks_about_that_instant(world, kiosk):
    """The schema allows it, and it is a question a screen asks ("which rooms are free at 14:00?"), so it is answered
    rather than refused: a booking running then, or starting right then, takes the room; one ending then does not."""
    moment = timezone.now() + timedelta(hours=3)
    book(world.fjord, moment - minutes(30), moment + minutes(30))   # running
    book(world.glacier, moment, moment + minutes(30))                # starts right then
    book(world.harbor, moment - minutes(30), moment)                 # just ended
    assert available(kiosk, moment, moment) == ["Harbor"]
