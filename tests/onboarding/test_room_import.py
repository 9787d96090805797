"""Importing rooms from the connected directory: the plan, the import and its pages, against the fake Microsoft
Graph over a real socket (our Graph client, msal and TLS all run; nothing of ours is patched)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import reverse

from spaces_calendar.calendars import room_import
from spaces_calendar.calendars.models import (
    Booking,
    CalendarConnection,
    CalendarLink,
    ConnectionStatus,
    DiscoveredCalendar,
)
from spaces_calendar.calendars.room_import import ImportChoices, RoomState
from spaces_calendar.core.models import Building, Floor, Role, Room, Tenant
from spaces_calendar.sandbox.harness import Fault
from tests.factories import make_room, make_tenant, make_user
from tests.microsoft.sync_helpers import connect, soon

pytestmark = pytest.mark.django_db
IMPORT = reverse("calendar-rooms-import", args=["microsoft"])
ROOMS = reverse("calendar-rooms", args=["microsoft"])
PLACES = r"/v1\.0/places/microsoft\.graph\.room"


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    connection: CalendarConnection
    boardroom: Room
    globex_fjord: Room


@pytest.fixture
def world(fake_microsoft, settings) -> World:
    """Acme, connected, with five rooms in its directory: two in a building it has, one in a new building, one
    with no building or floor, and one that is already an Acme room (another name and capacity, not linked)."""
    settings.CALENDAR_SUBSCRIPTIONS = False
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    fake_microsoft.add_room("Fjord@acme.example", "Fjord", capacity="12", building="HQ", floorNumber=3)
    fake_microsoft.add_room("glacier@acme.example", "Glacier", capacity=6, building="HQ", floorNumber=3)
    fake_microsoft.add_room("harbour@acme.example", "Harbour", capacity=4, building="Annex", floorNumber=1)
    fake_microsoft.add_room("loose@acme.example", "Loose room")
    fake_microsoft.add_room("boardroom@acme.example", "Boardroom", capacity=14, building="HQ", floorNumber=1)
    return World(acme, globex, connect(acme, fake_microsoft),
                 make_room(acme, "Old boardroom", email="boardroom@acme.example", capacity=10),
                 # Same address in another tenant: not Acme's room, so it never counts as "exists".
                 make_room(globex, "Fjord", email="fjord@acme.example"))


@pytest.fixture
def admin(client, world):
    client.force_login(make_user(world.acme, Role.ADMIN))
    return client


def outline(plan: room_import.ImportPlan) -> list:
    return [(building.name, building.building is not None,
             [(floor.name, [(item.name, item.state) for item in floor.rooms]) for floor in building.floors])
            for building in plan.buildings]


def everything(plan: room_import.ImportPlan, **zones: str) -> ImportChoices:
    return ImportChoices(rooms=frozenset(item.email for item in plan.rooms if item.importable), time_zones=zones)


def acme_rooms() -> dict[str, tuple]:
    return {room.email: (room.name, room.capacity, room.floor.building.name, room.floor.name, room.time_zone)
            for room in Room.objects.filter(tenant__name="Acme").select_related("floor__building")}


# --- The plan and the import ------------------------------------------------------------------------------------

def test_the_plan_lists_every_page_of_the_directory_by_building_and_floor(world, fake_microsoft):
    fake_microsoft.rooms_page_size = 2

    plan = room_import.plan(world.connection)

    assert len(fake_microsoft.graph.requests_to(PLACES)) == 3
    assert outline(plan) == [
        ("Annex", False, [("Floor 1", [("Harbour", RoomState.NEW)])]),
        ("HQ", True, [("1", [("Boardroom", RoomState.UNLINKED)]),
                      ("Floor 3", [("Fjord", RoomState.NEW), ("Glacier", RoomState.NEW)])]),
        ("Main building", False, [("Unassigned floor", [("Loose room", RoomState.NEW)])]),
    ]
    assert [building.name for building in plan.new_buildings] == ["Annex", "Main building"]
    assert plan.new_floor_count == 3
    boardroom = next(item for item in plan.rooms if item.email == "boardroom@acme.example")
    assert boardroom.room == world.boardroom
    assert boardroom.changes == ["name “Old boardroom” → “Boardroom”", "capacity 10 → 14"]


def test_importing_creates_buildings_floors_and_rooms_and_links_each(world):
    plan = room_import.plan(world.connection)

    result = room_import.apply(plan, everything(plan, **{plan.new_buildings[0].key: "Europe/London"}))

    assert (result.buildings, result.floors, result.rooms, result.linked, result.updated) == (2, 3, 4, 5, 0)
    assert not result.failures
    assert acme_rooms() == {
        "fjord@acme.example": ("Fjord", 12, "HQ", "Floor 3", ""),
        "glacier@acme.example": ("Glacier", 6, "HQ", "Floor 3", ""),
        "harbour@acme.example": ("Harbour", 4, "Annex", "Floor 1", ""),
        "loose@acme.example": ("Loose room", None, "Main building", "Unassigned floor", ""),
        "boardroom@acme.example": ("Old boardroom", 10, "HQ", "1", ""),  # matched by address, left as it was
    }
    assert dict(Building.objects.filter(tenant=world.acme).values_list("name", "time_zone")) == {
        "Annex": "Europe/London", "HQ": "Europe/Oslo", "Main building": "Europe/Oslo"}
    assert Floor.objects.get(building__name="HQ", name="Floor 3").level == 3
    links = CalendarLink.objects.filter(connection=world.connection)
    assert {link.room.email: link.external_calendar_id for link in links} == {
        email: email for email in acme_rooms()}
    assert all(link.next_sync_at is not None for link in links)
    assert Room.objects.get(tenant=world.globex).name == "Fjord"  # the other tenant's room is untouched


def test_importing_twice_creates_nothing_new(world):
    first = room_import.plan(world.connection)
    room_import.apply(first, everything(first))
    before = (acme_rooms(), Building.objects.count(), Floor.objects.count(), CalendarLink.objects.count())

    again = room_import.plan(world.connection)
    result = room_import.apply(again, everything(again))

    assert {item.state for item in again.rooms} == {RoomState.LINKED}
    assert not again.new_buildings and again.new_floor_count == 0
    assert (result.buildings, result.floors, result.rooms, result.linked) == (0, 0, 0, 0)
    assert (acme_rooms(), Building.objects.count(), Floor.objects.count(), CalendarLink.objects.count()) == before


def test_a_stale_plan_applied_again_still_never_duplicates_a_room(world):
    plan = room_import.plan(world.connection)
    room_import.apply(plan, everything(plan))

    result = room_import.apply(plan, everything(plan))  # the same review submitted twice

    assert result.rooms == 0 and result.buildings == 0
    assert Room.objects.filter(tenant=world.acme).count() == 5


def test_only_the_ticked_rooms_are_imported_and_only_the_buildings_they_need(world):
    plan = room_import.plan(world.connection)

    result = room_import.apply(plan, ImportChoices(rooms=frozenset({"glacier@acme.example"})))

    assert (result.buildings, result.floors, result.rooms, result.linked) == (0, 1, 1, 1)
    assert set(acme_rooms()) == {"glacier@acme.example", "boardroom@acme.example"}
    assert not Building.objects.filter(name__in=["Annex", "Main building"]).exists()


def test_an_existing_room_changes_only_when_the_admin_asks(world):
    plan = room_import.plan(world.connection)
    room_import.apply(plan, ImportChoices(rooms=frozenset({"boardroom@acme.example"})))
    world.boardroom.refresh_from_db()
    assert (world.boardroom.name, world.boardroom.capacity) == ("Old boardroom", 10)
    assert CalendarLink.objects.get(room=world.boardroom).external_calendar_id == "boardroom@acme.example"

    again = room_import.plan(world.connection)
    result = room_import.apply(again, ImportChoices(update=frozenset({"boardroom@acme.example"})))

    world.boardroom.refresh_from_db()
    assert result.updated == 1 and (world.boardroom.name, world.boardroom.capacity) == ("Boardroom", 14)
    assert Room.objects.filter(email="boardroom@acme.example").count() == 1


def test_rooms_without_building_or_floor_go_where_the_admin_says(world):
    make_room(world.acme, "Kiosk corner")  # Acme's "HQ" building, floor "1"
    plan = room_import.plan(world.connection, fallback_building="hq", fallback_floor="Ground")

    room_import.apply(plan, everything(plan))

    assert acme_rooms()["loose@acme.example"][2:4] == ("HQ", "Ground")
    assert not Building.objects.filter(name__in=["hq", "Main building"]).exists()


def test_a_calendar_linked_to_another_room_is_left_alone(world):
    other = make_room(world.acme, "Fjord (old)", email="fjord-old@acme.example")
    CalendarLink.objects.create(connection=world.connection, room=other, external_calendar_id="fjord@acme.example")

    plan = room_import.plan(world.connection)
    fjord = next(item for item in plan.rooms if item.email == "fjord@acme.example")
    result = room_import.apply(plan, ImportChoices(rooms=frozenset({"fjord@acme.example"})))

    assert (fjord.state, fjord.note) == (RoomState.ELSEWHERE, "its calendar is linked to Fjord (old)")
    assert result.rooms == 0 and not Room.objects.filter(email="fjord@acme.example", tenant=world.acme).exists()


def test_the_first_sync_follows_the_import_as_after_a_link(world, fake_microsoft, eager_tasks,
                                                          django_capture_on_commit_callbacks):
    fake_microsoft.add_event("fjord@acme.example", "Planning", soon(1), soon(2))
    plan = room_import.plan(world.connection)

    with django_capture_on_commit_callbacks(execute=True):
        room_import.apply(plan, everything(plan))

    booking = Booking.objects.get()
    assert (booking.room.email, booking.subject) == ("fjord@acme.example", "Planning")
    assert CalendarLink.objects.get(room=booking.room).last_synced_at is not None


# --- The pages --------------------------------------------------------------------------------------------------

def row(html: str, email: str) -> str:
    match = re.search(rf'<tr data-email="{re.escape(email)}".*?</tr>', html, re.DOTALL)
    assert match, f"no row for {email}"
    return match.group(0)


def test_the_rooms_page_and_the_integrations_tile_lead_to_the_import(admin):
    assert f'href="{IMPORT}" data-action="import"' in admin.get(ROOMS).text
    assert f'href="{IMPORT}" data-action="import"' in admin.get(reverse("integrations")).text
    response = admin.get(reverse("calendar-rooms-import-start"))
    assert response.status_code == 302 and response.url == IMPORT


def test_the_review_page_shows_what_would_be_created_with_new_rooms_ticked(admin, world):
    page = admin.get(IMPORT).text

    assert "4 new room(s), 1 existing room(s) to link, 0 already linked" in " ".join(page.split())
    assert "creates 2 building(s) and 3 floor(s)" in " ".join(page.split())
    fjord = row(page, "fjord@acme.example")
    assert 'name="room" value="fjord@acme.example"' in fjord and " checked" in fjord and "new: created" in fjord
    boardroom = row(page, "boardroom@acme.example")
    assert " checked" in boardroom.split('name="update"')[0] and "exists (HQ / 1): linked" in boardroom
    assert 'name="update" value="boardroom@acme.example">' in boardroom  # offered, not ticked
    assert "capacity 10 → 14" in boardroom
    annex = plan_key(world, "Annex")
    assert f'name="tz_{annex}" value="Europe/Oslo"' in page  # a new building defaults to the tenant's zone
    assert 'name="fallback_building" value="Main building"' in page
    assert 'name="fallback_floor" value="Unassigned floor"' in page


def plan_key(world: World, name: str) -> str:
    return next(b.key for b in room_import.plan(world.connection, refresh=False).buildings if b.name == name)


def test_importing_from_the_page_creates_links_and_says_what_it_did(admin, world):
    admin.get(IMPORT)
    annex = plan_key(world, "Annex")
    form = {"room": ["fjord@acme.example", "harbour@acme.example", "loose@acme.example"],
            "update": ["boardroom@acme.example"], f"tz_{annex}": "Europe/London",
            f"tz_{room_import.FALLBACK_KEY}": "Europe/Oslo", "fallback_building": "Garage", "fallback_floor": ""}

    response = admin.post(IMPORT, form, follow=True)

    assert response.redirect_chain == [(ROOMS, 302)]
    assert ("Imported: 2 building(s), 3 floor(s) and 3 room(s) created, 3 room(s) linked to their calendar"
            in response.text)
    assert "1 updated" in response.text
    rooms = acme_rooms()
    assert rooms["loose@acme.example"][2:4] == ("Garage", "Unassigned floor")
    assert rooms["boardroom@acme.example"][:2] == ("Boardroom", 14)
    assert "glacier@acme.example" not in rooms
    assert Building.objects.get(name="Annex").time_zone == "Europe/London"
    assert response.text.count('data-linked="true"') == 3

    again = admin.post(IMPORT, {"room": ["fjord@acme.example"], "fallback_building": "Garage"}, follow=True)
    assert "Nothing to import" in again.text
    assert Room.objects.filter(tenant=world.acme).count() == 4


def test_an_invalid_time_zone_is_a_400_and_creates_nothing(admin, world):
    admin.get(IMPORT)
    annex = plan_key(world, "Annex")

    response = admin.post(IMPORT, {"room": ["harbour@acme.example"], f"tz_{annex}": "Europe/Atlantis"})

    assert response.status_code == 400
    assert "is not an IANA time zone" in response.text
    assert 'value="harbour@acme.example" aria-label="Import Harbour" checked' in response.text
    assert not Building.objects.filter(name="Annex").exists()


def test_a_building_left_without_a_zone_takes_the_tenants(admin, world):
    admin.get(IMPORT)
    annex = plan_key(world, "Annex")

    response = admin.post(IMPORT, {"room": ["harbour@acme.example"], f"tz_{annex}": ""})

    assert response.status_code == 302
    assert Building.objects.get(name="Annex").time_zone == "Europe/Oslo"


def test_rooms_of_another_tenant_are_never_imported_into_this_one(admin, world):
    admin.get(IMPORT)

    admin.post(IMPORT, {"room": ["fjord@acme.example", "war-room@globex.example"]})

    assert Room.objects.filter(tenant=world.globex).count() == 1
    assert not Room.objects.filter(email="war-room@globex.example").exists()


def test_without_a_connection_the_page_says_to_connect_first(admin, world):
    world.connection.delete()

    page = admin.get(IMPORT).text

    assert 'data-testid="not-connected"' in page
    response = admin.get(reverse("calendar-rooms-import-start"), follow=True)
    assert "Connect a calendar first" in response.text


def test_revoked_consent_is_reported_and_the_connection_marked(admin, world, fake_microsoft):
    fake_microsoft.revoke_consent()

    page = admin.get(IMPORT).text

    assert "no longer grants access: reconnect" in page and 'data-testid="not-connected"' in page
    world.connection.refresh_from_db()
    assert world.connection.status == ConnectionStatus.NEEDS_CONSENT


def test_an_unreachable_directory_is_reported_readably(admin, world, fake_microsoft, settings):
    settings.OUTBOUND_MAX_RETRIES = 0
    fake_microsoft.graph.add_fault(Fault(drop=True), path=PLACES)

    page = admin.get(IMPORT).text

    assert "Could not reach Microsoft 365 (ConnectionError): try again later." in page
    assert not DiscoveredCalendar.objects.exists()
