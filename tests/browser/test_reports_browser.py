"""A viewer filters the ghost-booking report, sees its chart and downloads a CSV; another tenant's viewer sees none
of it. In a real Chromium."""

from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from tests.occupancy.test_reports_fixtures import ACME_SECRETS, FAST_HASHERS, RANGE, build_world

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_filters_the_ghost_report_and_downloads_it_and_another_tenant_sees_none_of_it(
        page, live_server, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    world = build_world()
    report = f"/reports/ghost-bookings/?{urlencode(RANGE)}"
    log_in(page, live_server.url, world.acme_viewer.username, next_path=quote(report))

    # Unfiltered: every Acme room with a ghost has a bar.
    page.wait_for_selector("svg[role=img] rect.bar")
    assert page.get_by_role("link", name="Reports").count() == 1
    assert sorted(page.locator("svg rect.bar").evaluate_all("bars => bars.map(b => b.dataset.label)")) == [
        "Fjord", "Glacier", "Harbor"]

    # Filter on one room: the form keeps the dates, the chart and the list narrow to it.
    page.select_option("#filter-room", str(world.glacier.pk))
    page.click("#apply-filters")
    page.wait_for_url(f"**room={world.glacier.pk}**")
    assert page.input_value("#filter-from") == RANGE["from"]
    chart = page.locator("svg[role=img]").first
    assert "Ghost rate per room" in chart.locator("title").first.text_content()
    assert chart.locator("rect.bar").evaluate_all("bars => bars.map(b => b.dataset.label)") == ["Glacier"]
    assert page.locator("#table-ghosts tbody tr").count() == 1

    with page.expect_download() as info:
        page.click("a[data-action=csv][data-table=ghosts]")
    download = info.value
    assert download.suggested_filename == "ghost-bookings-ghosts-2025-01-01-to-2025-01-31.csv"
    with Path(download.path()).open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[4:6] == ["Room", "Subject"]
    assert [(row[0], row[4], row[5]) for row in rows] == [("2025-01-08T10:00:00+01:00", "Glacier", "(private)")]

    # Another tenant's viewer: Acme's room id is not found, and the unfiltered report holds none of Acme's rows.
    page.click("header button[type=submit]")  # log out
    log_in(page, live_server.url, world.globex_viewer.username, next_path=quote(report))
    page.wait_for_selector("svg[role=img]")
    content = page.content()
    assert not [secret for secret in ACME_SECRETS if secret in content]
    assert page.locator("svg rect.bar").evaluate_all("bars => bars.map(b => b.dataset.label)") == ["War Room"]
    response = page.goto(f"{live_server.url}{report}&room={world.glacier.pk}")
    assert response.status == 404
