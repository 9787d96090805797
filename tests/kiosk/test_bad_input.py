"""Malformed ids, absurd intervals and odd requests get a 4xx with a JSON body, never a 500."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from .conftest import minutes


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


@pytest.mark.parametrize("room_id", ["abc", "0", "-1", "1.5", "1e3", "9" * 30, str(2**63), "١٢", "%20", "0x10"])
def test_a_malformed_room_id_is_a_400(kiosk, room_id):
    response = kiosk.get(f"/api/v1/rooms/{room_id}/status")
    assert response.status_code == 400
    assert response.json() == {"detail": "These parameters cannot be used.",
                               "errors": {"room_id": "Expected a positive whole number."}}


def test_an_unknown_room_is_a_404(kiosk):
    response = kiosk.get(f"/api/v1/rooms/{2**63 - 1}/status")
    assert response.status_code == 404 and response.json() == {"detail": "No such room."}


@pytest.mark.parametrize("query", ["building=x", "floor=-3", "building=99999999999999999999999", "floor=1.0"])
def test_malformed_list_filters_are_a_400(kiosk, query):
    response = kiosk.get(f"/api/v1/rooms/status?{query}")
    assert response.status_code == 400 and set(response.json()["errors"]) <= {"building", "floor"}


def test_unknown_list_filters_are_a_404(world, kiosk):
    assert kiosk.get("/api/v1/rooms/status?building=424242").json() == {"detail": "No such building."}
    assert kiosk.get("/api/v1/rooms/status?floor=424242").status_code == 404
    response = kiosk.get(f"/api/v1/rooms/status?building={world.annex.pk}&floor={world.first.pk}")
    assert response.status_code == 404 and response.json() == {"detail": "No such floor in that building."}


def _available(kiosk, **params):
    return kiosk.get("/api/v1/rooms/available?" + urlencode(params))


def _iso(moment) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(("params", "field"), [
    ({}, "from"),
    ({"to": "2030-01-01T10:00:00Z"}, "from"),
    ({"from": "yesterday", "to": "tomorrow"}, "from"),
    ({"from": "2025-13-45T99:00:00Z", "to": "2025-01-01T10:00:00Z"}, "from"),
    ({"from": "2025-01-01T10:00:00", "to": "2025-01-01T11:00:00"}, "from"),  # no offset
    ({"from": "2025-01-01T10:00:00+25:00", "to": "2025-01-01T11:00:00Z"}, "from"),
    ({"from": "0001-01-01T00:00:00+01:00", "to": "9999-12-31T23:59:59-01:00"}, "to"),
])
def test_unparseable_or_ambiguous_times_are_a_400(kiosk, params, field):
    response = _available(kiosk, **params)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_absurd_intervals_are_a_400(kiosk):
    now = timezone.now()
    cases = {
        "to before from": (now + minutes(60), now + minutes(30)),
        "over 14 days": (now, now + timedelta(days=14, seconds=1)),
        "over already": (now - minutes(90), now - minutes(30)),
        "years ahead": (now + timedelta(days=400), now + timedelta(days=400, hours=1)),
    }
    for name, (start, end) in cases.items():
        response = _available(kiosk, **{"from": _iso(start), "to": _iso(end)})
        assert response.status_code == 400, name
        body = response.json()
        assert body["detail"] == "These parameters cannot be used." and body["errors"], name


def test_exactly_fourteen_days_is_fine(kiosk):
    now = timezone.now()
    response = _available(kiosk, **{"from": _iso(now), "to": _iso(now + timedelta(days=14))})
    assert response.status_code == 200


@pytest.mark.parametrize("capacity", ["0", "-2", "many", "1000001", "1.5"])
def test_a_malformed_capacity_is_a_400(kiosk, capacity):
    now = timezone.now()
    response = _available(kiosk, **{"from": _iso(now), "to": _iso(now + minutes(30)), "capacity": capacity})
    assert response.status_code == 400 and "capacity" in response.json()["errors"]


def test_every_problem_is_reported_at_once(kiosk):
    response = _available(kiosk, **{"from": "x", "to": "y", "capacity": "z", "building": "w"})
    assert set(response.json()["errors"]) == {"from", "to", "capacity", "building"}


def test_other_methods_are_a_405_with_json(kiosk, world):
    response = kiosk.client.post(f"/api/v1/rooms/{world.fjord.pk}/status",
                                 HTTP_AUTHORIZATION=f"Bearer {kiosk.raw}")
    assert response.status_code == 405 and response.json()["detail"]


def test_a_browser_accept_header_still_gets_json(kiosk, world):
    for url in (f"/api/v1/rooms/{world.fjord.pk}/status", f"/api/v1/rooms/{world.fjord.pk}/status?format=xml",
                "/api/v1/rooms/status"):
        response = kiosk.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert kiosk.get("/api/v1/rooms/x/status", HTTP_ACCEPT="text/html").json()["errors"]
