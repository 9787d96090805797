"""The JSON reports API: session or token authentication, tenant scoping, errors as JSON, and the OpenAPI schema."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from spaces_calendar.api_tokens.tokens import issue_token
from spaces_calendar.core.models import Membership, Role
from spaces_calendar.core.tenancy import SESSION_KEY
from tests.factories import make_user
from tests.occupancy.test_reports_fixtures import FAST_HASHERS, RANGE, World, build_world

pytestmark = pytest.mark.django_db
GHOSTS, USAGE = "api-reports-ghost-bookings", "api-reports-utilization"


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world()


def api(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode({**RANGE, **params})}"


def token_for(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {issue_token(user, 'test')[1]}"}


def test_the_ghost_report_answers_a_session(client, world):
    client.force_login(world.acme_viewer)

    body = client.get(api(GHOSTS, page_size=2)).json()

    assert body["filters"] == {"date_from": "2025-01-01", "date_to": "2025-01-31", "building": None, "floor": None,
                               "room": None, "organizer": ""}
    assert body["summary"] == {"key": "all", "label": "All rooms", "bookings": 8, "ghosts": 5, "ghost_rate": 0.625,
                               "recoverable_hours": 1.5}
    page = body["ghost_bookings"]
    assert (page["count"], page["page"], page["pages"], page["page_size"], len(page["results"])) == (5, 1, 3, 2, 2)
    first = page["results"][0]
    assert (first["room"], first["start"], first["subject"], first["series_id"]) == (
        "Fjord", "2025-01-06T09:00:00+01:00", "Acme standup", "series-standup")
    assert first["evidence"]["sources"] == ["spaces_wifi", "webex"]
    assert page["results"][1]["subject"] == "" and page["results"][1]["private"] is True
    assert [r["label"] for r in body["rooms"]] == ["Harbor", "Fjord", "Glacier"]
    assert [r["label"] for r in body["buildings"]] == ["Annex", "HQ"]
    assert [(s["label"], s["zombie"], s["ghosts"]) for s in body["zombie_series"]] == [("Acme standup", True, 3)]
    assert len(body["organizers"]) == 2


def test_the_utilization_report_answers_a_token(client, world):
    body = client.get(api(USAGE), **token_for(world.acme_viewer)).json()

    assert [room["room"] for room in body["rooms"]] == ["Fjord", "Glacier"]
    fjord = body["rooms"][0]
    assert (fjord["booked_hours"], fjord["unbooked_occupied_hours"], fjord["peak_fit"], fjord["median_people"]) == (
        1.5, 0.5, 0.9, 6.0)
    heatmap = body["heatmap"]
    assert heatmap["weekdays"][1] == "Tuesday" and heatmap["occupied_hours"][1][14] == 1.0
    assert len(heatmap["occupied_hours"]) == 7 and {len(row) for row in heatmap["occupied_hours"]} == {24}


@pytest.mark.parametrize("name", [GHOSTS, USAGE])
def test_without_credentials_it_is_a_401_and_with_a_bad_token_too(client, world, name):
    assert client.get(api(name)).status_code == 401
    assert client.get(api(name), HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


@pytest.mark.parametrize("name", [GHOSTS, USAGE])
def test_a_user_without_a_membership_is_refused(client, world, name):
    response = client.get(api(name), **token_for(make_user(None)))

    assert response.status_code == 403 and "detail" in response.json()


@pytest.mark.parametrize("name", [GHOSTS, USAGE])
@pytest.mark.parametrize("params, field", [
    ({"from": "nope"}, "from"),
    ({"from": "2025-02-01", "to": "2025-01-01"}, "from"),
    ({"from": "2020-01-01", "to": "2025-01-01"}, "to"),
    ({"building": "x"}, "building"),
    ({"organizer": "@"}, "organizer"),
])
def test_bad_filters_are_a_400_json_body(client, world, name, params, field):
    client.force_login(world.acme_viewer)

    response = client.get(api(name, **params))

    assert response.status_code == 400
    assert response.json()["detail"] and field in response.json()["errors"]


@pytest.mark.parametrize("params", [{"page": "0"}, {"page_size": "1000"}])
def test_a_bad_page_is_a_400_json_body(client, world, params):
    client.force_login(world.acme_viewer)

    response = client.get(api(GHOSTS, **params))

    assert response.status_code == 400 and set(response.json()["errors"]) == set(params)


@pytest.mark.parametrize("name", [GHOSTS, USAGE])
@pytest.mark.parametrize("place", ["building", "floor", "room"])
def test_another_tenants_place_is_a_404_json_body(client, world, name, place):
    room = world.war_room
    place_id = {"building": room.floor.building_id, "floor": room.floor_id, "room": room.pk}[place]

    response = client.get(api(name, **{place: place_id}), **token_for(world.acme_viewer))

    assert response.status_code == 404 and "detail" in response.json()


def test_a_token_user_works_in_their_first_tenant_as_the_pages_do(client, world):
    both = make_user(world.globex)
    Membership.objects.create(user=both, tenant=world.acme, role=Role.VIEWER)

    body = client.get(api(GHOSTS), **token_for(both)).json()

    assert [r["label"] for r in body["rooms"]] == ["Harbor", "Fjord", "Glacier"]  # Acme sorts before Globex


def test_a_session_user_works_in_the_tenant_chosen_in_the_session(client, world):
    both = make_user(world.globex)
    Membership.objects.create(user=both, tenant=world.acme, role=Role.VIEWER)
    client.force_login(both)
    session = client.session
    session[SESSION_KEY] = world.globex.pk
    session.save()

    body = client.get(api(GHOSTS)).json()

    assert [r["label"] for r in body["rooms"]] == ["War Room"]


def test_the_schema_documents_both_reports(client, world):
    client.force_login(world.acme_viewer)

    schema = client.get(reverse("openapi-schema"), {"format": "json"}).json()

    ghosts = schema["paths"]["/api/v1/reports/ghost-bookings"]["get"]
    usage = schema["paths"]["/api/v1/reports/utilization"]["get"]
    assert {p["name"] for p in ghosts["parameters"]} == {"from", "to", "building", "floor", "room", "organizer",
                                                         "page", "page_size"}
    assert {p["name"] for p in usage["parameters"]} == {"from", "to", "building", "floor", "room"}
    assert ghosts["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/GhostReport")
    assert set(ghosts["responses"]) >= {"200", "400", "401", "403", "404"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
