"""The bookings API: every judged booking as paginated JSON and as CSV, with the reports' filters, authentication,
tenant scoping and error shape, and in the OpenAPI schema."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from occupancy.booking_rows import booking_outcomes, parse_booking_filters
from occupancy.models import BookingOutcome
from occupancy.report_filters import FilterError
from spaces_calendar.api_tokens.tokens import issue_token
from spaces_calendar.core.models import Role, Room, Tenant
from tests.factories import make_tenant, make_user
from tests.occupancy.test_reports_fixtures import FAST_HASHERS, NEW_YORK, at, outcome, place

pytestmark = pytest.mark.django_db
LIST, CSV = "api-bookings", "api-bookings-csv"
SUBJECT, ORGANIZER = "Merger talks with Initech", "alice@acme.example"
FORMULA_SERIES = '=HYPERLINK("http://evil.example","x")'
FILTER_ERROR = "These filters cannot be used."


@dataclass
class Bookings:
    acme: Tenant
    globex: Tenant
    fjord: Room  # Acme, HQ / 1, Oslo
    glacier: Room  # Acme, HQ / 2, Oslo
    harbor: Room  # Acme, Annex / G, New York
    war_room: Room  # Globex
    viewer: object
    day: date  # the first local day of the range the tests ask for
    # Acme's outcomes of the three local days from ``day``, in the order the API must list them.
    in_range: list[BookingOutcome]
    late_local: BookingOutcome  # Fjord, 00:30 local on day + 3: still day + 2 in UTC, but not in range
    cancelled: BookingOutcome
    foreign: BookingOutcome  # Globex


@pytest.fixture
def world(db, settings) -> Bookings:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    fjord = place(acme, "HQ", "1", "Fjord", capacity=10)
    glacier = place(acme, "HQ", "2", "Glacier", capacity=4)
    harbor = place(acme, "Annex", "G", "Harbor", zone="America/New_York", capacity=6)
    war_room = place(globex, "Tower", "9", "War Room", capacity=20)
    # Ten days ago, so that the default range (the last 30 days) holds these too; computed when the test runs.
    day = timezone.localdate(timezone=ZoneInfo("Europe/Oslo")) - timedelta(days=10)
    seen = {"first_presence_at": at(day, 14, 2).astimezone(UTC).isoformat(),
            "last_presence_at": at(day, 14, 58).astimezone(UTC).isoformat(), "peak_people": 7,
            "median_people": 5.0, "occupied_minutes": 56.0, "data_gap_minutes": 0.0, "grace_window_coverage": 1.0,
            "sources": ["webex"]}
    in_range = [
        outcome(fjord, at(day, 9), subject=SUBJECT, series="series-standup", organizer=ORGANIZER),
        outcome(fjord, at(day, 14), 60, "attended", subject=SUBJECT, evidence=seen, peak_people=7, median_people=5),
        outcome(glacier, at(day + timedelta(days=1), 10), 60, "late_start", final=False),
        outcome(glacier, at(day + timedelta(days=2), 10), 60, "early_end", series=FORMULA_SERIES,
                organizer=ORGANIZER),
        # Late on the last local day in New York: already the next day in UTC, still in range.
        outcome(harbor, at(day + timedelta(days=2), 20, zone=NEW_YORK), kind="unknown"),
    ]
    return Bookings(
        acme=acme, globex=globex, fjord=fjord, glacier=glacier, harbor=harbor, war_room=war_room,
        viewer=make_user(acme, Role.VIEWER), day=day, in_range=in_range,
        late_local=outcome(fjord, at(day + timedelta(days=3), 0, 30)),
        cancelled=outcome(fjord, at(day + timedelta(days=1), 9), cancelled=True),
        foreign=outcome(war_room, at(day, 9), subject="Globex plotting", organizer=ORGANIZER),
    )


def dates(world: Bookings, first: int = 0, last: int = 2) -> dict[str, str]:
    return {"from": (world.day + timedelta(days=first)).isoformat(),
            "to": (world.day + timedelta(days=last)).isoformat()}


def url(name: str, world: Bookings | None = None, **params) -> str:
    return f"{reverse(name)}?{urlencode({**(dates(world) if world else {}), **params})}"


def token_for(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {issue_token(user, 'test')[1]}"}


def ids(body: dict) -> list[int]:
    return [row["booking_id"] for row in body["results"]]


def booking_ids(outcomes: list[BookingOutcome]) -> list[int]:
    return [o.booking_id for o in outcomes]


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --------------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------------


def test_every_outcome_is_listed_by_start_with_its_room_times_and_evidence(client, world):
    client.force_login(world.viewer)

    response = client.get(url(LIST, world))

    assert response.status_code == 200
    body = response.json()
    assert ids(body) == booking_ids(world.in_range)
    assert [row["outcome"] for row in body["results"]] == ["ghost", "attended", "late_start", "early_end", "unknown"]
    attended = body["results"][1]
    assert attended == {
        "booking_id": world.in_range[1].booking_id,
        "room": {"id": world.fjord.pk, "name": "Fjord", "email": world.fjord.email},
        "building": "HQ", "floor": "1",
        "start": utc(at(world.day, 14)), "end": utc(at(world.day, 15)),
        "time_zone": "Europe/Oslo", "all_day": False, "outcome": "attended", "final": True, "series_id": "",
        "evidence": {"first_presence_at": at(world.day, 14, 2).astimezone(UTC).isoformat(),
                     "last_presence_at": at(world.day, 14, 58).astimezone(UTC).isoformat(), "peak_people": 7,
                     "median_people": 5.0, "occupied_minutes": 56.0, "data_gap_minutes": 0.0,
                     "grace_window_coverage": 1.0, "sources": ["webex"]},
    }
    assert body["results"][0]["series_id"] == "series-standup"
    assert body["results"][2]["final"] is False, "a running booking is listed, marked not final"
    harbor = body["results"][4]
    assert (harbor["time_zone"], harbor["building"], harbor["start"]) == (
        "America/New_York", "Annex", utc(at(world.day + timedelta(days=2), 20, zone=NEW_YORK)))


def test_subjects_and_organisers_never_appear(client, world):
    client.force_login(world.viewer)

    for name in (LIST, CSV):
        response = client.get(url(name, world))
        text = response.content.decode() if name == LIST else b"".join(response.streaming_content).decode()
        assert SUBJECT not in text and ORGANIZER not in text and "alice" not in text, name
        assert world.in_range[0].organizer_hash not in text, name
    row = client.get(url(LIST, world)).json()["results"][0]
    assert not {"subject", "organizer", "organizer_hash", "private"} & set(row)


def test_the_local_dates_are_each_rooms_own(client, world):
    client.force_login(world.viewer)

    # 00:30 in Oslo on day + 3 is day + 2 in UTC, yet it belongs to day + 3.
    assert world.late_local.booking_id not in ids(client.get(url(LIST, world)).json())
    assert ids(client.get(url(LIST, **dates(world, 3, 3))).json()) == [world.late_local.booking_id]
    # The New York evening of day + 2 is day + 3 in UTC, yet it belongs to day + 2 only.
    assert ids(client.get(url(LIST, **dates(world, 2, 2))).json()) == booking_ids(world.in_range[3:])


def test_without_dates_the_range_is_the_last_30_local_days(client, world):
    client.force_login(world.viewer)

    listed = ids(client.get(reverse(LIST)).json())

    # By start in UTC: 00:30 in Oslo (23:30 UTC) comes before 20:00 the evening before in New York (01:00 UTC).
    assert listed == booking_ids([*world.in_range[:4], world.late_local, world.in_range[4]])


def test_a_cancelled_booking_is_left_out(client, world):
    client.force_login(world.viewer)

    assert world.cancelled.booking_id not in ids(client.get(url(LIST, world, page_size=200)).json())


# --------------------------------------------------------------------------------------------------------
# Authentication and tenants
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [LIST, CSV])
def test_without_credentials_or_with_a_bad_token_it_is_a_401(client, world, name):
    response = client.get(url(name, world))

    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert "detail" in response.json()
    assert client.get(url(name, world), HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


def test_a_token_works(client, world):
    response = client.get(url(LIST, world), **token_for(world.viewer))

    assert response.status_code == 200 and ids(response.json()) == booking_ids(world.in_range)
    csv_response = client.get(url(CSV, world), **token_for(world.viewer))
    assert csv_response.status_code == 200 and len(csv_rows(csv_response)) == len(world.in_range)


def test_a_session_works_for_the_csv_too(client, world):
    client.force_login(world.viewer)

    response = client.get(url(CSV, world))

    assert response.status_code == 200 and len(csv_rows(response)) == len(world.in_range)


@pytest.mark.parametrize("name", [LIST, CSV])
def test_a_user_without_a_membership_is_refused(client, world, name):
    response = client.get(url(name, world), **token_for(make_user(None)))

    assert response.status_code == 403 and "detail" in response.json()


def test_another_tenants_bookings_never_appear(client, world):
    globex_viewer = make_user(world.globex, Role.VIEWER)

    acme = client.get(url(LIST, world, page_size=200), **token_for(world.viewer)).json()
    globex = client.get(url(LIST, world, page_size=200), **token_for(globex_viewer)).json()

    assert world.foreign.booking_id not in ids(acme) and "War Room" not in str(acme)
    assert ids(globex) == [world.foreign.booking_id] and "Fjord" not in str(globex)
    acme_csv = b"".join(client.get(url(CSV, world), **token_for(world.viewer)).streaming_content).decode()
    assert "War Room" not in acme_csv and str(world.foreign.booking_id) not in {
        row["booking_id"] for row in csv.DictReader(io.StringIO(acme_csv))}


@pytest.mark.parametrize("name", [LIST, CSV])
@pytest.mark.parametrize("level", ["building", "floor", "room"])
def test_another_tenants_place_is_a_404_as_in_the_reports(client, world, name, level):
    room = world.war_room
    place_id = {"building": room.floor.building_id, "floor": room.floor_id, "room": room.pk}[level]

    response = client.get(url(name, world, **{level: place_id}), **token_for(world.viewer))
    report = client.get(url("api-reports-ghost-bookings", world, **{level: place_id}), **token_for(world.viewer))

    assert response.status_code == report.status_code == 404
    assert response.json() == report.json()


# --------------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------------


def test_the_place_filters(client, world):
    client.force_login(world.viewer)
    fjord, glacier, harbor = (booking_ids(world.in_range[:2]), booking_ids(world.in_range[2:4]),
                              booking_ids(world.in_range[4:]))

    assert ids(client.get(url(LIST, world, building=world.harbor.floor.building_id)).json()) == harbor
    assert ids(client.get(url(LIST, world, building=world.fjord.floor.building_id)).json()) == fjord + glacier
    assert ids(client.get(url(LIST, world, floor=world.glacier.floor_id)).json()) == glacier
    assert ids(client.get(url(LIST, world, room=world.fjord.pk)).json()) == fjord


@pytest.mark.parametrize("params, expected", [
    ({"outcome": "ghost"}, [0]),
    ({"outcome": "late_start,early_end"}, [2, 3]),
    ({"outcome": " unknown , attended "}, [1, 4]),
    ({"outcome": ["ghost", "unknown"]}, [0, 4]),  # the parameter repeated
    ({"outcome": ""}, [0, 1, 2, 3, 4]),
    ({"organizer": ORGANIZER.upper()}, [0, 3]),
])
def test_the_outcome_and_organizer_filters(client, world, params, expected):
    client.force_login(world.viewer)

    response = client.get(f"{reverse(LIST)}?{urlencode({**dates(world), **params}, doseq=True)}")

    assert ids(response.json()) == [world.in_range[i].booking_id for i in expected]


def test_the_csv_takes_the_same_filters(client, world):
    client.force_login(world.viewer)

    rows = csv_rows(client.get(url(CSV, world, outcome="late_start,early_end", building=world.fjord.floor.building_id)))

    assert [int(row["booking_id"]) for row in rows] == booking_ids(world.in_range[2:4])


BAD = [
    ({"outcome": "no_show"}, {"outcome"}),
    ({"outcome": "ghost,nope"}, {"outcome"}),
    ({"outcome": "ghost,"}, {"outcome"}),
    ({"outcome": "GHOST"}, {"outcome"}),
    ({"from": "nope"}, {"from"}),
    ({"from": "2025-02-01", "to": "2025-01-01"}, {"from"}),
    ({"from": "2020-01-01", "to": "2025-01-01"}, {"to"}),
    ({"building": "x", "outcome": "x"}, {"building", "outcome"}),  # reported together
    ({"organizer": "@"}, {"organizer"}),
]


@pytest.mark.parametrize("name", [LIST, CSV])
@pytest.mark.parametrize("params, fields", BAD)
def test_bad_filters_are_a_400_with_the_reports_error_shape(client, world, name, params, fields):
    client.force_login(world.viewer)

    # A CSV client may accept only text/csv: its errors are JSON all the same, not a 406.
    accept = {"HTTP_ACCEPT": "text/csv"} if name == CSV else {}
    response = client.get(f"{reverse(name)}?{urlencode(params)}", **accept)

    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"] == FILTER_ERROR and set(body) == {"detail", "errors"}
    assert set(body["errors"]) == fields and all(isinstance(m, str) and m for m in body["errors"].values())


def test_a_malformed_outcome_is_a_400_even_with_another_tenants_room(client, world):
    client.force_login(world.viewer)

    response = client.get(url(LIST, world, outcome="nope", room=world.war_room.pk))

    assert response.status_code == 400 and set(response.json()["errors"]) == {"outcome"}


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"page_size": "1000"}, {"page_size": "-1"}])
def test_a_bad_page_is_a_400(client, world, params):
    client.force_login(world.viewer)

    response = client.get(url(LIST, world, **params))

    assert response.status_code == 400
    assert response.json()["detail"] == FILTER_ERROR and set(response.json()["errors"]) == set(params)


def test_the_filters_work_without_http(world):
    filters = parse_booking_filters({**dates(world), "outcome": "ghost,early_end"}, world.acme)

    assert filters.outcomes == ("ghost", "early_end")
    assert list(booking_outcomes(filters)) == [world.in_range[0], world.in_range[3]]
    with pytest.raises(FilterError) as error:
        parse_booking_filters({"outcome": "maybe"}, world.acme)
    assert set(error.value.errors) == {"outcome"}


# --------------------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------------------


def test_pages_follow_the_ghost_reports_fields_and_link_to_each_other(client, world):
    client.force_login(world.viewer)

    first = client.get(url(LIST, world, page_size=2)).json()

    assert (first["count"], first["page"], first["pages"], first["page_size"]) == (5, 1, 3, 2)
    assert first["previous"] is None and len(first["results"]) == 2
    seen, page = ids(first), first
    while page["next"]:
        link = urlsplit(page["next"])
        assert link.scheme == "http" and link.netloc == "testserver"
        assert parse_qs(link.query)["from"] == [dates(world)["from"]], "the filters are kept"
        page = client.get(f"{link.path}?{link.query}").json()
        seen += ids(page)
    assert (page["page"], len(page["results"])) == (3, 1)
    assert parse_qs(urlsplit(page["previous"]).query)["page"] == ["2"]
    assert seen == booking_ids(world.in_range)


def test_the_outcome_filter_is_kept_in_the_links(client, world):
    client.force_login(world.viewer)

    first = client.get(url(LIST, world, page_size=1, outcome="ghost,unknown")).json()

    assert first["count"] == 2
    assert parse_qs(urlsplit(first["next"]).query)["outcome"] == ["ghost,unknown"]


def test_a_page_past_the_end_is_empty(client, world):
    client.force_login(world.viewer)

    body = client.get(url(LIST, world, page=9, page_size=2)).json()

    assert (body["count"], body["pages"], body["results"], body["next"]) == (5, 3, [], None)
    assert parse_qs(urlsplit(body["previous"]).query)["page"] == ["3"]


# --------------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------------


def test_the_csv_is_streamed_with_every_row_and_the_jsons_fields(client, world):
    client.force_login(world.viewer)

    response = client.get(url(CSV, world))

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="bookings-{dates(world)["from"]}-to-{dates(world)["to"]}.csv"')
    rows = csv_rows(response)
    assert [int(row["booking_id"]) for row in rows] == booking_ids(world.in_range)
    attended = rows[1]
    assert attended == {
        "booking_id": str(world.in_range[1].booking_id), "room_id": str(world.fjord.pk), "room": "Fjord",
        "room_email": world.fjord.email, "building": "HQ", "floor": "1",
        "start": utc(at(world.day, 14)), "end": utc(at(world.day, 15)), "time_zone": "Europe/Oslo",
        "all_day": "false", "outcome": "attended", "final": "true", "series_id": "",
        "first_presence_at": at(world.day, 14, 2).astimezone(UTC).isoformat(),
        "last_presence_at": at(world.day, 14, 58).astimezone(UTC).isoformat(), "peak_people": "7",
        "median_people": "5.0", "occupied_minutes": "56.0", "data_gap_minutes": "0.0",
        "grace_window_coverage": "1.0", "sources": "webex",
    }
    assert rows[0]["sources"] == "spaces_wifi webex" and rows[2]["final"] == "false"


def test_the_csv_escapes_what_a_spreadsheet_would_run(client, world):
    client.force_login(world.viewer)
    world.glacier.name = "@SUM(1+1)"
    world.glacier.save()

    rows = csv_rows(client.get(url(CSV, world, room=world.glacier.pk)))

    assert rows[1]["series_id"] == "'" + FORMULA_SERIES
    assert {row["room"] for row in rows} == {"'@SUM(1+1)"}
    # The JSON is not a spreadsheet: there the values stay as they are.
    json_rows = client.get(url(LIST, world, room=world.glacier.pk)).json()["results"]
    assert json_rows[1]["series_id"] == FORMULA_SERIES and json_rows[0]["room"]["name"] == "@SUM(1+1)"


def test_the_ghost_bookings_page_links_to_the_csv_with_its_filters(client, world):
    client.force_login(world.viewer)

    page = client.get(reverse("reports-ghost-bookings"), {**dates(world), "room": world.fjord.pk}).content.decode()

    link = f'{reverse(CSV)}?from={dates(world)["from"]}&amp;to={dates(world)["to"]}&amp;room={world.fjord.pk}"'
    assert link in page
    followed = client.get(link.rstrip('"').replace("&amp;", "&"))
    assert [int(row["booking_id"]) for row in csv_rows(followed)] == booking_ids(world.in_range[:2])


# --------------------------------------------------------------------------------------------------------
# OpenAPI
# --------------------------------------------------------------------------------------------------------


def test_both_endpoints_are_in_the_schema(world):
    schema = Client().get("/api/schema/?format=json").json()

    listing, download = schema["paths"]["/api/v1/bookings"]["get"], schema["paths"]["/api/v1/bookings.csv"]["get"]
    filters = {"from", "to", "building", "floor", "room", "organizer", "outcome"}
    assert {p["name"] for p in listing["parameters"]} == filters | {"page", "page_size"}
    assert {p["name"] for p in download["parameters"]} == filters
    outcome_parameter = next(p for p in listing["parameters"] if p["name"] == "outcome")
    assert (outcome_parameter["style"], outcome_parameter["explode"]) == ("form", False)
    assert set(outcome_parameter["schema"]["items"]["enum"]) == {"attended", "ghost", "late_start", "early_end",
                                                                 "unknown"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/BookingPage")
    assert set(download["responses"]["200"]["content"]) == {"text/csv"}
    for operation in (listing, download):
        assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
        assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/FilterError")
        assert {"tokenAuth", "cookieAuth"} <= {name for entry in operation["security"] for name in entry}
    row = schema["components"]["schemas"]["BookingRow"]["properties"]
    assert set(row) == {"booking_id", "room", "building", "floor", "start", "end", "time_zone", "all_day",
                        "outcome", "final", "series_id", "evidence"}
