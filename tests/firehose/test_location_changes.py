"""locationHierarchyChange in the shape DESIGN.md section 6 gives (changeType ADD | UPDATE | REMOVE | MOVE, the time
zone in locationDetails, location innermost first), applied through the ledger: rooms stay current, a new ZONE
named like a room is mapped with the history its location already sent, and every location lands in the catalogue
the Sensors page lists."""

from __future__ import annotations

import json
import time
from itertools import count

import pytest

from firehose import ledger
from firehose.events import parse_line
from occupancy.models import OccupancySignal, PendingSignal, SensorSource
from spaces_calendar.core.models import Room
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
_uids = count(1)


def zone(location_id: str, name: str) -> dict:
    return {"locationId": location_id, "name": name, "inferredLocationTypes": ["ZONE"], "parent": {
        "locationId": "loc-floor-2", "name": "Floor 2", "inferredLocationTypes": ["FLOOR"], "parent": {
            "locationId": "loc-hq", "name": "HQ", "inferredLocationTypes": ["BUILDING"]}}}


def envelope(event_type: str, payload_name: str, payload: dict) -> dict:
    return {"recordUid": f"uid-{next(_uids)}", "recordTimestamp": int(time.time() * 1000),
            "spacesTenantId": "spaces-1", "spacesTenantName": "Acme Spaces", "partnerTenantId": "p-1",
            "eventType": event_type, payload_name: payload}


def change(kind: str, location: dict, time_zone: str = "") -> dict:
    details = {"timeZone": time_zone, "city": "Oslo", "country": "NO"} if time_zone else {}
    return envelope("LOCATION_CHANGE", "locationHierarchyChange",
                    {"changeType": kind, "location": location, "locationDetails": details})


def camera(location: dict, people: int) -> dict:
    return envelope("CAMERA_COUNT", "cameraCounts", {"location": location, "count": people, "countDelta": people})


def apply(tenant, *events: dict) -> ledger.BatchOutcome:
    parsed = [parse_line(json.dumps(event)) for event in events]
    return ledger.apply_batch(ledger.StreamKey("test"), parsed, lambda spaces_tenant: tenant.pk)


def test_a_new_zone_named_like_a_room_is_mapped_with_the_history_it_already_sent():
    tenant = make_tenant("Acme")
    harbour = make_room(tenant, "Harbour")
    apply(tenant, camera(zone("loc-harbour", "Harbour"), 2))
    assert PendingSignal.objects.count() == 1 and not OccupancySignal.objects.exists()

    apply(tenant, change("ADD", zone("loc-harbour", "harbour"), "Europe/Oslo"))

    harbour.refresh_from_db()
    assert (harbour.spaces_location_id, harbour.time_zone) == ("loc-harbour", "Europe/Oslo")
    assert OccupancySignal.objects.get().room_id == harbour.pk and not PendingSignal.objects.exists()


def test_update_and_move_rename_and_rezone_a_mapped_room_and_remove_unmaps_it():
    tenant = make_tenant("Acme")
    fjord = make_room(tenant, "Fjord", spaces_location_id="loc-fjord")
    glacier = make_room(tenant, "Glacier", spaces_location_id="loc-glacier")

    apply(tenant, change("UPDATE", zone("loc-fjord", "Fjord (renovated)"), "Europe/Berlin"),
          change("MOVE", zone("loc-glacier", "Glacier"), "America/New_York"))
    fjord.refresh_from_db()
    glacier.refresh_from_db()
    assert (fjord.name, fjord.time_zone) == ("Fjord (renovated)", "Europe/Berlin")
    assert glacier.time_zone == "America/New_York"

    apply(tenant, change("REMOVE", zone("loc-glacier", "Glacier")))
    assert Room.objects.get(pk=glacier.pk).spaces_location_id == ""
    assert SensorSource.objects.get(key="loc-glacier").removed is True


def test_two_rooms_of_the_same_name_are_never_guessed_between():
    tenant = make_tenant("Acme")
    make_room(tenant, "Focus")
    make_room(tenant, "Focus")
    apply(tenant, change("ADD", zone("loc-focus", "Focus")))
    assert not Room.objects.exclude(spaces_location_id="").exists()


def test_every_location_and_workspace_named_on_the_stream_is_catalogued_with_its_hierarchy():
    tenant = make_tenant("Acme")
    webex = envelope("WEBEX_TELEMETRY", "webexTelemetryUpdate", {
        "deviceInfo": {"deviceId": "d-1", "displayName": "Delta Room Bar", "workspaceId": "ws-delta"},
        "location": zone("loc-delta", "Delta"), "telemetries": [{"presence": False}, {"peopleCount": 0}]})
    wifi = envelope("DEVICE_COUNT", "deviceCounts", {"location": zone("loc-lobby", "Lobby"), "associatedCount": 4})

    outcome = apply(tenant, webex, wifi, change("ADD", zone("loc-cedar", "Cedar"), "Europe/Oslo"))

    assert outcome.skipped["not_occupancy:deviceCounts"] == 1
    sources = {(s.kind, s.key): s for s in SensorSource.objects.filter(tenant=tenant)}
    assert set(sources) == {("webex_workspace", "ws-delta"), ("spaces_location", "loc-delta"),
                            ("spaces_location", "loc-lobby"), ("spaces_location", "loc-cedar")}
    delta = sources[("webex_workspace", "ws-delta")]
    assert (delta.name, delta.hierarchy, delta.signal_sources) == ("Delta Room Bar", "HQ / Floor 2 / Delta",
                                                                   "webex,webex_people")
    assert delta.last_signal_at is not None
    cedar = sources[("spaces_location", "loc-cedar")]
    assert (cedar.hierarchy, cedar.location_types, cedar.time_zone, cedar.last_signal_at) == (
        "HQ / Floor 2", "ZONE", "Europe/Oslo", None)
