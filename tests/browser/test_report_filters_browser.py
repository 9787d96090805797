"""The report filters in Chromium: choosing a building narrows the floors, choosing a floor narrows the rooms,
before the form is sent (a room off the chosen floor would be refused with a 400)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from tests.occupancy.test_reports_fixtures import FAST_HASHERS, RANGE, build_world

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def offered(page, select: str) -> list[str]:
    return page.locator(f"{select} option:not([disabled])").evaluate_all(
        "options => options.filter(o => o.value && !o.hidden).map(o => o.value)")


def test_choosing_a_building_and_a_floor_narrows_the_choices_below_them(page, live_server, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    world = build_world()
    report = f"/reports/ghost-bookings/?{urlencode(RANGE)}"
    log_in(page, live_server.url, world.acme_viewer.username, next_path=quote(report))
    page.wait_for_selector("#report-filters")
    every_room = sorted(str(room.pk) for room in (world.fjord, world.glacier, world.harbor))
    assert sorted(offered(page, "#filter-room")) == every_room

    page.select_option("#filter-floor", str(world.glacier.floor_id))
    assert offered(page, "#filter-room") == [str(world.glacier.pk)]

    page.select_option("#filter-floor", "")
    page.select_option("#filter-building", str(world.harbor.floor.building_id))
    assert offered(page, "#filter-floor") == [str(world.harbor.floor_id)]
    assert offered(page, "#filter-room") == [str(world.harbor.pk)]

    # A floor of the other building, chosen before, does not stay chosen out of sight.
    page.select_option("#filter-building", "")
    page.select_option("#filter-floor", str(world.fjord.floor_id))
    page.select_option("#filter-building", str(world.harbor.floor.building_id))
    assert page.input_value("#filter-floor") == ""

    page.select_option("#filter-building", "")
    page.select_option("#filter-floor", str(world.glacier.floor_id))
    page.click("#apply-filters")
    page.wait_for_url(f"**floor={world.glacier.floor_id}**")
    assert offered(page, "#filter-room") == [str(world.glacier.pk)]
