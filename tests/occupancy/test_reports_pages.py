"""The report pages and their CSV downloads: who may see them, what they show, and tenant isolation."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from occupancy.csv_export import TABLES
from tests.factories import make_user
from tests.occupancy.test_reports_fixtures import (
    ACME_SECRETS,
    FAST_HASHERS,
    GLOBEX_SECRETS,
    RANGE,
    World,
    at,
    build_world,
    outcome,
)

pytestmark = pytest.mark.django_db
PAGES = {"ghost-bookings": "reports-ghost-bookings", "utilization": "reports-utilization"}


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world()


def url(report: str, **params) -> str:
    return f"{reverse(PAGES[report])}?{urlencode({**RANGE, **params})}"


def download(client, report: str, table: str, **params) -> tuple[object, list[list[str]]]:
    response = client.get(url(report, format="csv", table=table, **params))
    assert response.status_code == 200, response
    text = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("report", PAGES)
def test_anonymous_users_are_sent_to_log_in(client, report):
    response = client.get(url(report))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("report", PAGES)
def test_users_without_a_membership_are_refused(client, world, report):
    client.force_login(make_user(None))

    assert client.get(url(report)).status_code == 403
    assert client.get(url(report, format="csv", table="rooms")).status_code == 403


@pytest.mark.parametrize("role", ["acme_viewer", "acme_admin"])
def test_the_ghost_report_shows_its_chart_and_tables(client, world, role):
    client.force_login(getattr(world, role))

    response = client.get(url("ghost-bookings"))

    assert response.status_code == 200
    page = response.text
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in page and 'class="bar"' in page
    assert "<title id=" in page and "Ghost rate per room" in page
    assert 'data-label="Harbor"' in page
    assert "5 ghost bookings of 8 with a known outcome" in " ".join(page.split())
    assert "1 zombie series" in page
    for table in TABLES["ghost-bookings"]:
        assert f'data-table="{table}"' in page and f"table={table}" in page
    assert "Board strategy" not in page  # attended, not a ghost
    assert "(private)" in page


def test_the_utilization_report_shows_bars_and_a_heatmap(client, world):
    client.force_login(world.acme_viewer)

    page = client.get(url("utilization")).text

    assert page.count("<svg") == 2 and 'class="bar"' in page and 'class="cell"' in page
    assert 'data-weekday="1" data-hour="14" data-value="1.0"' in page  # a Tuesday, 14:00, one hour
    assert "Fjord" in page and "Glacier" in page
    assert 'name="organizer"' not in page  # daily totals do not know the organiser


def test_the_filter_form_offers_only_the_tenants_places(client, world):
    client.force_login(world.acme_viewer)

    page = client.get(url("ghost-bookings")).text

    assert f'<option value="{world.fjord.pk}"' in page and f'<option value="{world.war_room.pk}"' not in page
    assert "Tower" not in page


def test_a_room_filter_narrows_the_page(client, world):
    client.force_login(world.acme_viewer)

    page = client.get(url("ghost-bookings", room=world.glacier.pk)).text

    assert 'data-label="Glacier"' in page and 'data-label="Fjord"' not in page
    assert re.search(rf'<option value="{world.glacier.pk}"[^>]* selected>', page)


@pytest.mark.parametrize("report", PAGES)
@pytest.mark.parametrize("params, status", [
    ({"from": "2025-13-01"}, 400),
    ({"from": "2025-02-01", "to": "2025-01-01"}, 400),
    ({"from": "2023-01-01", "to": "2025-01-01"}, 400),
    ({"room": "abc"}, 400),
    ({"format": "csv", "table": "nope"}, 400),
])
def test_bad_filters_are_a_400_with_the_form_and_the_reason(client, world, report, params, status):
    client.force_login(world.acme_viewer)

    response = client.get(url(report, **params))

    assert response.status_code == status
    if "format" not in params:
        assert 'data-testid="filter-errors"' in response.text and 'id="report-filters"' in response.text


@pytest.mark.parametrize("report", PAGES)
@pytest.mark.parametrize("name", ["building", "floor", "room"])
def test_another_tenants_place_is_a_404(client, world, report, name):
    client.force_login(world.acme_viewer)
    room = world.war_room
    place_id = {"building": room.floor.building_id, "floor": room.floor_id, "room": room.pk}[name]

    assert client.get(url(report, **{name: place_id})).status_code == 404
    assert client.get(url(report, format="csv", table="rooms", **{name: place_id})).status_code == 404


def test_the_ghost_list_csv_has_every_ghost_with_its_evidence(client, world):
    client.force_login(world.acme_viewer)

    response, rows = download(client, "ghost-bookings", "ghosts")

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        'attachment; filename="ghost-bookings-ghosts-2025-01-01-to-2025-01-31.csv"')
    header, *body = rows
    assert header[:6] == ["Start", "End", "Building", "Floor", "Room", "Subject"]
    assert [(row[4], row[0][:16]) for row in body] == [
        ("Fjord", "2025-01-06T09:00"), ("Glacier", "2025-01-08T10:00"), ("Fjord", "2025-01-20T09:00"),
        ("Fjord", "2025-01-27T09:00"), ("Harbor", "2025-01-31T20:00")]
    assert body[-1][0] == "2025-01-31T20:00:00-05:00"  # the room's own local time
    assert body[1][5] == "(private)" and body[0][6] == "series-standup"
    assert body[0][header.index("Grace window coverage (%)")] == "90.0"
    assert body[0][header.index("Sources")] == "spaces_wifi webex"


def test_the_rate_and_utilization_csvs_parse_back(client, world):
    client.force_login(world.acme_viewer)

    _, rooms = download(client, "ghost-bookings", "rooms")
    _, zombies = download(client, "ghost-bookings", "zombie-series")
    _, usage = download(client, "utilization", "rooms")
    _, heat = download(client, "utilization", "heatmap")

    assert rooms[0] == ["Room", "Bookings with an outcome", "Ghosts", "Ghost rate (%)", "Recoverable hours"]
    assert rooms[1:] == [["Harbor", "1", "1", "100.0", "0.0"], ["Fjord", "4", "3", "75.0", "0.5"],
                         ["Glacier", "3", "1", "33.3", "1.0"]]
    assert [row[0] for row in zombies[1:]] == ["Acme standup"] and zombies[1][2] == "yes"
    fjord = dict(zip(usage[0], usage[1], strict=True))
    assert (fjord["Room"], fjord["Booked hours"], fjord["Unbooked occupied hours"], fjord["Data coverage (%)"]) == (
        "Fjord", "1.5", "0.5", "66.7")
    assert heat[0][:3] == ["Weekday", "00", "01"] and heat[2][0] == "Tuesday" and heat[2][15] == "1.0"


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(client, world):
    outcome(world.fjord, at(date(2025, 1, 14), 11), subject='=HYPERLINK("http://evil")')
    client.force_login(world.acme_viewer)

    _, rows = download(client, "ghost-bookings", "ghosts")

    assert "'=HYPERLINK(\"http://evil\")" in [row[5] for row in rows]


def test_the_organizer_filter_is_kept_in_the_csv_links(client, world):
    client.force_login(world.acme_viewer)

    page = client.get(url("ghost-bookings", organizer="alice@acme.example")).text
    _, rows = download(client, "ghost-bookings", "ghosts", organizer="alice@acme.example")

    assert "organizer=alice%40acme.example&amp;format=csv&amp;table=ghosts" in page
    assert [row[4] for row in rows[1:]] == ["Fjord"] * 3


def report_urls() -> list[str]:
    pages = [url(report) for report in PAGES]
    csvs = [url(report, format="csv", table=table) for report, tables in TABLES.items() for table in tables]
    apis = [f"{reverse(name)}?{urlencode(RANGE)}" for name in ("api-reports-ghost-bookings", "api-reports-utilization")]
    return pages + csvs + apis


@pytest.mark.parametrize("report_url", report_urls())
def test_a_viewer_of_another_tenant_gets_none_of_acmes_data(client, world, report_url):
    client.force_login(world.globex_viewer)

    response = client.get(report_url)

    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode()
    assert not [secret for secret in ACME_SECRETS if secret in text]
    # And the URL did work: Globex's own rows are there (but in tables without names: the heatmap, organiser
    # pseudonyms, and zombie series, of which Globex has none).
    if not any(f"table={table}" in report_url for table in ("heatmap", "organizers", "zombie-series")):
        assert any(secret in text for secret in GLOBEX_SECRETS)
