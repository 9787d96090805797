"""Parsing the report filters: defaults, malformed values (400) and other tenants' ids (404)."""

from __future__ import annotations

from datetime import date

import pytest
from django.http import Http404, QueryDict

from occupancy.report_filters import FilterError, parse_filters, parse_page
from spaces_calendar.calendars.bookings import organizer_hash
from tests.occupancy.test_reports_fixtures import FAST_HASHERS, World, build_world

pytestmark = pytest.mark.django_db
TODAY = date(2025, 3, 15)


@pytest.fixture
def world(db, settings) -> World:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return build_world()


def parse(world: World, query: str, tenant=None):
    return parse_filters(QueryDict(query), tenant or world.acme, today=TODAY)


def test_the_default_range_is_the_30_days_before_today(world):
    filters = parse(world, "")

    assert (filters.date_from, filters.date_to, filters.days) == (date(2025, 2, 13), date(2025, 3, 14), 30)
    assert (filters.building, filters.floor, filters.room, filters.organizer) == (None, None, None, "")


def test_without_a_given_today_it_is_the_tenants_local_date(world):
    filters = parse_filters(QueryDict(""), world.acme)

    assert filters.days == 30 and filters.date_to >= date(2025, 1, 1)


def test_a_range_and_places_are_read_and_blank_values_ignored(world):
    room = world.glacier
    filters = parse(world, f"from=2025-01-01&to=2025-01-31&building={room.floor.building_id}&floor={room.floor_id}"
                           f"&room={room.pk}&organizer=")

    assert (filters.date_from, filters.date_to) == (date(2025, 1, 1), date(2025, 1, 31))
    assert (filters.building, filters.floor, filters.room) == (room.floor.building, room.floor, room)
    assert list(filters.rooms()) == [room]


def test_an_organizer_email_becomes_the_tenants_hash(world):
    filters = parse(world, "organizer=%20Alice@Acme.Example%20")

    assert filters.organizer == "alice@acme.example"
    assert filters.organizer_hash == organizer_hash(world.acme.pk, "alice@acme.example")


@pytest.mark.parametrize("query, field", [
    ("from=yesterday", "from"),
    ("to=2025-02-30", "to"),
    ("from=1999-12-31", "from"),
    ("to=9999-12-31", "to"),
    ("from=2025-02-01&to=2025-01-31", "from"),
    ("from=2024-01-01&to=2025-01-01", "to"),  # 367 days
    ("building=abc", "building"),
    ("floor=-1", "floor"),
    ("room=1.5", "room"),
    ("room=0", "room"),
    ("room=99999999999999999999999", "room"),
    ("room=%D9%A3", "room"),  # an Arabic-Indic digit: int() would take it
    ("organizer=not-an-email", "organizer"),
])
def test_malformed_filters_are_refused_naming_the_parameter(world, query, field):
    with pytest.raises(FilterError) as error:
        parse(world, query)

    assert field in error.value.errors


def test_a_range_of_366_days_is_allowed(world):
    assert parse(world, "from=2024-01-01&to=2024-12-31").days == 366


@pytest.mark.parametrize("name", ["building", "floor", "room"])
def test_another_tenants_place_is_not_found(world, name):
    room = world.war_room
    place_id = {"building": room.floor.building_id, "floor": room.floor_id, "room": room.pk}[name]

    with pytest.raises(Http404):
        parse(world, f"{name}={place_id}")
    assert parse(world, f"{name}={place_id}", tenant=world.globex) is not None


def test_an_unknown_id_is_not_found(world):
    with pytest.raises(Http404):
        parse(world, "room=987654321")


def test_places_must_lie_inside_each_other(world):
    fjord, glacier, harbor = world.fjord, world.glacier, world.harbor

    with pytest.raises(FilterError) as floor_error:
        parse(world, f"building={harbor.floor.building_id}&floor={fjord.floor_id}")
    with pytest.raises(FilterError) as room_error:
        parse(world, f"floor={glacier.floor_id}&room={fjord.pk}")

    assert "floor" in floor_error.value.errors and "room" in room_error.value.errors


def test_page_and_page_size(world):
    assert parse_page(QueryDict(""), 50) == (1, 50)
    assert parse_page(QueryDict("page=3&page_size=10"), 50) == (3, 10)
    for query in ("page=0", "page=x", "page_size=201"):
        with pytest.raises(FilterError):
            parse_page(QueryDict(query), 50)


def test_params_round_trip(world):
    query = f"from=2025-01-01&to=2025-01-31&room={world.fjord.pk}&organizer=bob%40acme.example"
    filters = parse(world, query)

    assert parse_filters(filters.params(), world.acme, today=TODAY) == filters
