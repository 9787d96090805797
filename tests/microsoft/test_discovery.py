"""Discovering room calendars through the fake Places API, and adding hidden rooms by address."""

from __future__ import annotations

import pytest

from spaces_calendar.calendars.discovery import DiscoveryError, add_calendar_by_email, refresh_calendars
from spaces_calendar.calendars.models import CalendarLink, ConnectionStatus, DiscoveredCalendar
from spaces_calendar.core.http import OutboundError
from spaces_calendar.providers.errors import ConsentRevoked
from tests.factories import make_room, make_tenant

from .sync_helpers import connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(fake_microsoft):
    return fake_microsoft, connect(make_tenant("Contoso"), fake_microsoft)


def discovered(connection) -> dict[str, DiscoveredCalendar]:
    return {row.external_id: row for row in DiscoveredCalendar.objects.filter(connection=connection)}


def test_it_stores_every_room_across_places_pages_keyed_by_lowercased_email(setup):
    fake, connection = setup
    fake.rooms_page_size = 2
    fake.add_room("Fjord@Contoso.example", "Fjord", capacity="12", building="HQ", floorNumber=3)
    for n in range(4):
        fake.add_room(f"room{n}@contoso.example", f"Room {n}", capacity=n + 2)

    result = refresh_calendars(connection)

    assert (result.added, result.listed, result.removed) == (5, 5, 0)
    assert len(fake.graph.requests_to(r"/v1\.0/places/microsoft\.graph\.room")) == 3
    rows = discovered(connection)
    assert set(rows) == {"fjord@contoso.example", *(f"room{n}@contoso.example" for n in range(4))}
    fjord = rows["fjord@contoso.example"]
    assert (fjord.name, fjord.capacity, fjord.building, fjord.floor) == ("Fjord", 12, "HQ", "3")
    assert fjord.last_seen_at is not None and not fjord.added_manually


def test_a_second_refresh_updates_in_place_and_forgets_rooms_that_are_gone(setup):
    fake, connection = setup
    fake.add_room("fjord@contoso.example", "Fjord", capacity=8)
    fake.add_room("gone@contoso.example", "Gone")
    refresh_calendars(connection)
    first_ids = {address: row.pk for address, row in discovered(connection).items()}
    fake.add_room("fjord@contoso.example", "Fjord (renamed)", capacity=10)
    del fake.rooms["gone@contoso.example"]

    result = refresh_calendars(connection)

    assert (result.added, result.updated, result.removed, result.kept) == (0, 1, 1, 0)
    rows = discovered(connection)
    assert set(rows) == {"fjord@contoso.example"}
    assert rows["fjord@contoso.example"].pk == first_ids["fjord@contoso.example"]
    assert (rows["fjord@contoso.example"].name, rows["fjord@contoso.example"].capacity) == ("Fjord (renamed)", 10)


def test_rooms_added_by_hand_or_linked_survive_a_refresh_that_does_not_list_them(setup):
    fake, connection = setup
    fake.add_room("hidden@contoso.example", "Hidden", hidden=True)
    fake.add_room("linked@contoso.example", "Linked")
    refresh_calendars(connection)
    add_calendar_by_email(connection, "hidden@contoso.example")
    room = make_room(connection.tenant, "Linked room", email="linked@contoso.example")
    CalendarLink.objects.create(connection=connection, room=room, external_calendar_id="linked@contoso.example")
    fake.add_room("linked@contoso.example", "Linked", hidden=True)

    result = refresh_calendars(connection)

    assert (result.listed, result.removed, result.kept) == (0, 0, 2)
    assert set(discovered(connection)) == {"hidden@contoso.example", "linked@contoso.example"}


def test_a_hidden_room_is_missing_from_discovery_but_can_be_added_by_email(setup):
    fake, connection = setup
    fake.add_room("new-room@contoso.example", "New room", hidden=True)
    assert refresh_calendars(connection).listed == 0

    row = add_calendar_by_email(connection, "  New-Room@Contoso.example ")

    assert (row.external_id, row.added_manually) == ("new-room@contoso.example", True)
    assert row.last_seen_at is not None
    assert fake.graph.requests_to(r"/v1\.0/users/new-room%40contoso\.example/calendarView")


def test_adding_the_same_address_twice_keeps_one_row_and_what_discovery_knew(setup):
    fake, connection = setup
    fake.add_room("fjord@contoso.example", "Fjord", capacity=12, building="HQ")
    refresh_calendars(connection)

    first = add_calendar_by_email(connection, "fjord@contoso.example")
    second = add_calendar_by_email(connection, "FJORD@contoso.example")

    assert first.pk == second.pk
    assert DiscoveredCalendar.objects.filter(connection=connection).count() == 1
    second.refresh_from_db()
    assert (second.name, second.capacity, second.building, second.added_manually) == ("Fjord", 12, "HQ", True)


def test_an_unknown_address_is_a_clear_error(setup):
    _, connection = setup

    with pytest.raises(DiscoveryError, match=r"No room calendar answers at nobody@contoso\.example"):
        add_calendar_by_email(connection, "nobody@contoso.example")
    assert not DiscoveredCalendar.objects.exists()


@pytest.mark.parametrize("address", ["", "not an address", "fjord@", "@contoso.example"])
def test_a_malformed_address_is_refused_before_asking_microsoft(setup, address):
    fake, connection = setup

    with pytest.raises(DiscoveryError, match="is not an email address"):
        add_calendar_by_email(connection, address)
    assert fake.token_requests() == []


def test_revoked_consent_marks_the_connection_and_changes_nothing(setup):
    fake, connection = setup
    fake.add_room("fjord@contoso.example", "Fjord")
    fake.revoke_consent()

    with pytest.raises(ConsentRevoked):
        refresh_calendars(connection)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_CONSENT
    assert not DiscoveredCalendar.objects.exists()


def test_an_unreachable_graph_raises_an_outbound_error_and_keeps_what_we_had(setup, settings):
    fake, connection = setup
    fake.add_room("fjord@contoso.example", "Fjord")
    refresh_calendars(connection)
    settings.OUTBOUND_MAX_RETRIES = 0
    fake.throttle(r"/places/microsoft\.graph\.room", status=503, times=5)

    with pytest.raises(OutboundError):
        refresh_calendars(connection)

    assert set(discovered(connection)) == {"fjord@contoso.example"}
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
