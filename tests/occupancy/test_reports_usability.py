"""What a facility team reads on the report pages: a default range of days that have happened, recoverable hours
that say what they count, one table of series, room choices that follow the chosen floor, and an organiser table
that the demo tenant fills."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from occupancy import reports
from occupancy.demo import seed_history
from occupancy.models import BookingOutcome
from occupancy.report_filters import parse_filters
from spaces_calendar.calendars.models import Booking
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.occupancy.test_reports_fixtures import FAST_HASHERS, RANGE, World, at, build_world, outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world()


def ghost_page(client, **params) -> str:
    return client.get(f"{reverse('reports-ghost-bookings')}?{urlencode(params)}").text


def options(page: str, select_id: str) -> list[str]:
    """The place ids a select offers (listed, but hidden and disabled, are those the other filters rule out)."""
    select = re.search(rf'<select id="{select_id}".*?</select>', page, re.S).group(0)
    return [value for value, rest in re.findall(r'<option value="(\d+)"([^>]*)>', select) if "disabled" not in rest]


def test_the_default_range_ends_yesterday_so_todays_meetings_to_come_are_not_counted(world):
    today = date(2025, 3, 15)

    filters = parse_filters(QueryDict(""), world.acme, today=today)

    assert (filters.date_from, filters.date_to, filters.days) == (date(2025, 2, 13), date(2025, 3, 14), 30)
    # Asked for, today is still there.
    assert parse_filters(QueryDict("to=2025-03-15"), world.acme, today=today).date_to == today


def test_without_dates_the_page_leaves_out_today_in_the_tenants_zone(client, world):
    client.force_login(world.acme_viewer)
    today = timezone.localdate(timezone=world.fjord.zone)

    page = ghost_page(client)

    assert f'value="{today - timedelta(days=1)}"' in page and f'value="{today}"' not in page


def test_the_page_and_the_api_say_recoverable_hours_include_early_end_tails(client, world):
    client.force_login(world.acme_viewer)

    page = " ".join(ghost_page(client, **RANGE).split())
    schema = client.get(reverse("openapi-schema"), HTTP_ACCEPT="application/json").json()

    assert re.search(r"recoverable hours[^.]*whole length of each ghost[^.]*early", page, re.I), page
    described = schema["components"]["schemas"]["GhostRate"]["properties"]["recoverable_hours"]["description"]
    assert "ghost" in described and "early" in described


def test_series_are_one_table_with_the_zombie_ones_first_and_their_own_csv(client, world):
    client.force_login(world.acme_viewer)
    # A second series with a ghost but not three in a row: not a zombie.
    outcome(world.glacier, at(date(2025, 1, 14), 11), subject="Design sync", series="series-design")

    page = ghost_page(client, **RANGE)

    assert page.count('id="table-series"') == 1 and 'id="table-zombie-series"' not in page
    series = re.search(r'<table id="table-series">.*?</table>', page, re.S).group(0)
    assert series.index("Acme standup") < series.index("Design sync")
    assert 'data-action="csv" data-table="zombie-series"' in page


def test_choosing_a_floor_narrows_the_room_choices_and_a_building_the_floors(client, world):
    client.force_login(world.acme_viewer)
    annex = world.harbor.floor

    on_floor = ghost_page(client, **RANGE, floor=world.glacier.floor_id)
    in_annex = ghost_page(client, **RANGE, building=annex.building_id)
    everything = ghost_page(client, **RANGE)

    assert options(on_floor, "filter-room") == [str(world.glacier.pk)]
    assert options(in_annex, "filter-floor") == [str(annex.pk)]
    assert options(in_annex, "filter-room") == [str(world.harbor.pk)]
    assert sorted(options(everything, "filter-room")) == sorted(
        str(room.pk) for room in (world.fjord, world.glacier, world.harbor))
    # Each option says where it is, for the page's script to narrow them without a reload.
    assert f'data-floor="{world.glacier.floor_id}"' in everything
    assert f'data-building="{annex.building_id}"' in everything


def test_the_demo_tenant_has_organisers_in_its_ghost_report():
    tenant = seed_demo_tenant()
    today = timezone.localdate(timezone=timezone.get_fixed_timezone(0))
    seed_history(tenant, days=21, today=today)

    filters = parse_filters(QueryDict(""), tenant, today=today)
    organizers = reports.organizer_rates(filters)

    assert organizers, "every demo booking has an organiser, and some of them book ghosts"
    assert all(rate.label.startswith("organizer ") and rate.ghosts for rate in organizers)


def test_demo_history_seeded_before_organisers_gets_them_at_the_next_start():
    tenant = seed_demo_tenant()
    today = timezone.localdate(timezone=timezone.get_fixed_timezone(0))
    seed_history(tenant, days=21, today=today)
    Booking.objects.filter(room__tenant=tenant).update(organizer_hash="")
    BookingOutcome.objects.filter(tenant=tenant).update(organizer_hash="")

    assert seed_history(tenant, days=21, today=today) == 0, "the history itself is not written twice"

    assert not Booking.objects.filter(room__tenant=tenant, organizer_hash="").exists()
    assert reports.organizer_rates(parse_filters(QueryDict(""), tenant, today=today))
