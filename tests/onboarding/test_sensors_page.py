"""The Sensors page: which source feeds which room, suggestions, apply all, map, unmap and add by id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from occupancy import intake
from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState, SensorSource
from occupancy.sensor_overview import map_suggested, sensor_overview
from spaces_calendar.core.models import Building, Floor, Role, Room, Tenant
from tests.factories import make_room, make_tenant, make_user

pytestmark = pytest.mark.django_db
PAGE = reverse("sensors")
MAP = reverse("sensors-map")
APPLY = reverse("sensors-apply-suggested")
SPACES, WEBEX = "spaces_location", "webex_workspace"


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    now: datetime
    fjord3: Room
    fjord4: Room
    glacier: Room
    delta: Room
    harbour: Room
    war_room: Room


def room(tenant: Tenant, building: str, floor: str, level: int | None, name: str, **fields) -> Room:
    place, _ = Building.objects.get_or_create(tenant=tenant, name=building, defaults={"time_zone": tenant.time_zone})
    storey, _ = Floor.objects.get_or_create(building=place, name=floor, defaults={"level": level})
    return Room.objects.create(floor=storey, name=name, **fields)


def source(tenant: Tenant, kind: str, key: str, name: str, hierarchy: str = "", *, types: str = "ZONE",
           signal_ago: timedelta | None = None, seen_ago: timedelta = timedelta(hours=1)) -> SensorSource:
    """A catalogue row as the stream leaves it: seen some time ago, with its last reading ``signal_ago`` back."""
    now = timezone.now()
    return SensorSource.objects.create(
        tenant=tenant, kind=kind, key=key, name=name, hierarchy=hierarchy,
        location_types=types if kind == SPACES else "", first_seen_at=now - seen_ago, last_seen_at=now - seen_ago,
        last_signal_at=None if signal_ago is None else now - signal_ago)


@pytest.fixture
def world() -> World:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    world = World(
        acme, globex, timezone.now(),
        fjord3=room(acme, "HQ", "Floor 3", 3, "Fjord"),
        fjord4=room(acme, "HQ", "Floor 4", 4, "Fjord"),
        glacier=room(acme, "HQ", "Floor 3", 3, "Glacier"),
        delta=room(acme, "Annex", "1", 1, "Meeting Room Delta"),
        harbour=room(acme, "Annex", "1", 1, "Harbour", spaces_location_id="loc-harbour"),
        war_room=make_room(globex, "Fjord"),
    )
    source(acme, SPACES, "loc-fjord-3", "Fjord", "Oslo / HQ / Floor 3 / Fjord", signal_ago=timedelta(minutes=5))
    source(acme, SPACES, "loc-fjord-x", "Fjord", "Oslo / HQ / Fjord")  # both Fjords are in HQ: a tie
    source(acme, SPACES, "loc-glacier", "GLACIER ", "")
    source(acme, SPACES, "loc-delta", "Delta", "Oslo / Annex / 1 / Delta", signal_ago=timedelta(days=30))
    source(acme, SPACES, "loc-floor-3", "Fjord", "Oslo / HQ / Floor 3", types="FLOOR")  # a floor is no room
    source(acme, WEBEX, "ws-harbour", "Harbour", "Oslo / Annex / 1 / Harbour", signal_ago=timedelta(minutes=1))
    source(acme, SPACES, "loc-harbour", "Harbour", "Oslo / Annex / 1 / Harbour", signal_ago=timedelta(minutes=2))
    source(globex, SPACES, "globex-fjord", "Fjord", "Chicago / Tower / Fjord", signal_ago=timedelta(minutes=1))
    return world


@pytest.fixture
def admin(client, world):
    client.force_login(make_user(world.acme, Role.ADMIN))
    return client


def suggestions(world: World) -> dict[str, tuple[str, str]]:
    return {row.key: (f"{row.suggestion.floor.name}/{row.suggestion.name}", row.suggestion_reason)
            for row in sensor_overview(world.acme).suggested}


def row(html: str, key: str) -> str:
    match = re.search(rf'<tr data-kind="[a-z_]+" data-key="{re.escape(key)}".*?</tr>', html, re.DOTALL)
    assert match, f"no row for {key}"
    return match.group(0)


# --- Suggestions --------------------------------------------------------------------------------------------------

def test_suggestions_use_the_name_then_the_normalised_name_and_the_hierarchy_breaks_ties(world):
    assert suggestions(world) == {
        "loc-fjord-3": ("Floor 3/Fjord", "same name; its hierarchy names the room's building and floor"),
        "loc-glacier": ("Floor 3/Glacier", "same name"),
        "loc-delta": ("1/Meeting Room Delta", "same name (normalised)"),
        "ws-harbour": ("1/Harbour", "same name"),  # a room takes one source of each kind: Webex is free
    }


def test_no_suggestion_when_two_sources_of_one_kind_want_the_same_room_equally(world):
    source(world.acme, SPACES, "loc-glacier-2", "Glacier", "")

    assert "loc-glacier" not in suggestions(world) and "loc-glacier-2" not in suggestions(world)


def test_a_room_that_already_has_a_source_of_that_kind_is_not_suggested_again(world):
    source(world.acme, SPACES, "loc-harbour-new", "Harbour", "Oslo / Annex / 1 / Harbour")

    assert "loc-harbour-new" not in suggestions(world)


def test_the_page_lists_unmapped_sources_with_recent_data_first_then_the_rest(admin, world):
    page = admin.get(PAGE).text

    keys = re.findall(r'<tr data-kind="[a-z_]+" data-key="([^"]+)"', page)
    assert keys[:2] == ["ws-harbour", "loc-fjord-3"]  # unmapped, recent readings, newest first
    assert set(keys[2:6]) == {"loc-fjord-x", "loc-glacier", "loc-delta", "loc-floor-3"}
    assert keys[6:] == ["loc-harbour"]  # mapped
    assert "globex-fjord" not in page and "Chicago" not in page
    assert f'<option value="{world.war_room.pk}"' not in page  # the picker offers Acme's rooms only
    fjord = row(page, "loc-fjord-3")
    assert f'<option value="{world.fjord3.pk}" selected>' in fjord and 'data-suggested-room' in fjord
    assert 'data-mapped="true"' in row(page, "loc-harbour") and "Annex / 1 / Harbour" in row(page, "loc-harbour")
    assert "Apply all suggested (4)" in page


def test_times_are_shown_in_the_tenants_zone_and_the_zone_is_named(admin, world):
    signal_at = SensorSource.objects.get(key="loc-fjord-3").last_signal_at

    page = admin.get(PAGE).text

    local = signal_at.astimezone(ZoneInfo("Europe/Oslo")).strftime("%Y-%m-%d %H:%M")
    assert local in row(page, "loc-fjord-3")
    assert "Times in Europe/Oslo." in page and "Last data (Europe/Oslo)" in page


# --- Apply all, map, unmap, add -------------------------------------------------------------------------------------

def reading(world: World, key: str, minutes_ago: int, people: int) -> intake.Signal:
    return intake.Signal(intake.RoomKey(world.acme.pk, SPACES, key), "spaces_camera",
                         timezone.now() - timedelta(minutes=minutes_ago), present=people > 0, people_count=people)


def test_apply_all_suggested_maps_them_and_applies_the_readings_they_sent_before(admin, world):
    result = intake.record([reading(world, "loc-fjord-3", 20, 3), reading(world, "loc-fjord-3", 10, 0)])
    assert result.pending == 2

    response = admin.post(APPLY, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "Mapped 4 source(s) to their suggested room. 2 earlier reading(s) applied." in response.text
    mapped = dict(Room.objects.filter(tenant=world.acme).values_list("pk", "spaces_location_id"))
    assert mapped == {world.fjord3.pk: "loc-fjord-3", world.fjord4.pk: "", world.glacier.pk: "loc-glacier",
                      world.delta.pk: "loc-delta", world.harbour.pk: "loc-harbour"}
    assert Room.objects.get(pk=world.harbour.pk).webex_workspace_id == "ws-harbour"
    assert OccupancySignal.objects.filter(room=world.fjord3).count() == 2
    assert not PendingSignal.objects.exists()
    assert RoomSourceState.objects.get(room=world.fjord3).people_count == 0
    assert "Apply all suggested" not in response.text
    assert map_suggested(world.acme).mapped == 0  # nothing left to suggest


def test_map_and_unmap_one_source_from_the_page(admin, world):
    response = admin.post(MAP, {"kind": SPACES, "key": "loc-fjord-x", "room": world.fjord4.pk}, follow=True)

    assert "Mapped Cisco Spaces location loc-fjord-x to Fjord." in response.text
    assert Room.objects.get(pk=world.fjord4.pk).spaces_location_id == "loc-fjord-x"
    assert 'data-mapped="true"' in row(response.text, "loc-fjord-x")

    response = admin.post(reverse("sensors-unmap", args=[world.fjord4.pk]), {"kind": SPACES}, follow=True)

    assert "Unmapped Cisco Spaces location loc-fjord-x from Fjord." in response.text
    assert Room.objects.get(pk=world.fjord4.pk).spaces_location_id == ""
    assert 'data-mapped="false"' in row(response.text, "loc-fjord-x")
    again = admin.post(reverse("sensors-unmap", args=[world.fjord4.pk]), {"kind": SPACES}, follow=True)
    assert "Fjord had no Cisco Spaces location." in again.text


def test_a_second_source_of_one_kind_for_a_room_gets_the_clear_message(admin, world):
    response = admin.post(MAP, {"kind": SPACES, "key": "loc-fjord-x", "room": world.harbour.pk}, follow=True)

    assert ("Harbour is already mapped to Cisco Spaces location loc-harbour: unmap it first (a room takes one "
            "Cisco Spaces location).") in response.text
    assert Room.objects.get(pk=world.harbour.pk).spaces_location_id == "loc-harbour"


def test_a_source_mapped_elsewhere_gets_the_clear_message(admin, world):
    response = admin.post(MAP, {"kind": SPACES, "key": "loc-harbour", "room": world.glacier.pk}, follow=True)

    assert "Cisco Spaces location loc-harbour is already mapped to Harbour: unmap it there first." in response.text
    assert Room.objects.get(pk=world.glacier.pk).spaces_location_id == ""


def test_another_tenants_room_is_a_404_and_nothing_is_mapped(admin, world):
    assert admin.post(MAP, {"kind": SPACES, "key": "loc-fjord-x", "room": world.war_room.pk}).status_code == 404
    assert admin.post(MAP, {"kind": SPACES, "key": "loc-fjord-x", "room": 999_999}).status_code == 404
    assert admin.post(reverse("sensors-unmap", args=[world.war_room.pk]), {"kind": SPACES}).status_code == 404
    assert Room.objects.get(pk=world.war_room.pk).spaces_location_id == ""


def test_mapping_without_a_room_or_with_a_bad_kind_says_so(admin, world):
    no_room = admin.post(MAP, {"kind": SPACES, "key": "loc-fjord-x", "room": ""}, follow=True)
    assert "Choose a room for Cisco Spaces location loc-fjord-x first." in no_room.text
    bad_kind = admin.post(MAP, {"kind": "bluetooth", "key": "x", "room": world.glacier.pk}, follow=True)
    assert "bluetooth&#x27; is not a kind of sensor source." in bad_kind.text
    empty = admin.post(MAP, {"kind": WEBEX, "key": "  ", "room": world.glacier.pk}, follow=True)
    assert "That source id is empty or too long." in empty.text
    assert not Room.objects.filter(tenant=world.acme).exclude(webex_workspace_id="").exists()


def test_a_webex_workspace_not_heard_from_yet_can_be_added_by_id(admin, world):
    workspace = "Y2lzY29zcGFyazovL3VzL1dPUktTUEFDRS9uZXc"

    response = admin.post(MAP, {"kind": WEBEX, "key": f" {workspace} ", "room": world.glacier.pk}, follow=True)

    assert f"Mapped Webex workspace {workspace} to Glacier." in response.text
    assert Room.objects.get(pk=world.glacier.pk).webex_workspace_id == workspace
    listed = row(response.text, workspace)
    assert "not heard from yet" in listed and 'data-mapped="true"' in listed
