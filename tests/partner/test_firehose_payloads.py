"""The Firehose payload builders give the shapes of DESIGN.md section 6: one envelope, one payload named by its
eventType, locations nested innermost first, one bare metric per Webex telemetry element."""

from __future__ import annotations

import time

import pytest

from spaces_calendar.partner import firehose_payloads as fp

ENVELOPE_FIELDS = {"recordUid", "recordTimestamp", "spacesTenantId", "spacesTenantName", "partnerTenantId",
                   "eventType"}
ROOT = fp.Level("loc-root", "Contoso", ("ROOT",))
CAMPUS = fp.Level("loc-campus", "Oslo", ("CAMPUS",))
BUILDING = fp.Level("loc-hq", "HQ", ("BUILDING",))
FLOOR = fp.Level("loc-floor-2", "Second floor", ("FLOOR",), floor_number=2)
ZONE = fp.Level("loc-fjord", "Fjord", ("ZONE",), source_location_id="zone-0042")


def now_ms() -> int:
    return int(time.time() * 1000)


def envelope_of(event_type: str, payload: dict | None) -> dict:
    return fp.envelope(event_type, payload, record_uid="uid-1", timestamp_ms=now_ms(), spaces_tenant_id="73105",
                       spaces_tenant_name="Contoso", partner_tenant_id="partner-1")


@pytest.mark.parametrize(("event_type", "payload_name"), sorted(fp.PAYLOAD_OF_TYPE.items()))
def test_an_envelope_carries_one_payload_named_by_its_event_type(event_type, payload_name):
    event = envelope_of(event_type, {"location": {"locationId": "loc-fjord"}})

    assert set(event) == ENVELOPE_FIELDS | {payload_name}
    assert event["eventType"] == event_type and fp.payload_of(event) == (payload_name, event[payload_name])


def test_the_event_types_rooms_depend_on_carry_the_payloads_cisco_names():
    assert fp.PAYLOAD_OF_TYPE["WEBEX_TELEMETRY"] == "webexTelemetryUpdate"
    assert fp.PAYLOAD_OF_TYPE["CAMERA_COUNT"] == "cameraCounts"
    assert fp.PAYLOAD_OF_TYPE["SPACE_OCCUPANCY"] == "spaceOccupancy"
    assert fp.PAYLOAD_OF_TYPE["LOCATION_CHANGE"] == "locationHierarchyChange"
    assert fp.PAYLOAD_OF_TYPE["PROFILE_UPDATE"] == "deviceProfileUpdate"
    assert fp.PAYLOAD_OF_TYPE["DEVICE_COUNT"] == "deviceCounts"


def test_an_event_type_without_a_known_payload_name_must_say_it():
    with pytest.raises(ValueError, match="payload_name"):
        envelope_of(fp.APP_DE_ACTIVATION, {})

    event = fp.envelope(fp.APP_DE_ACTIVATION, {}, payload_name="appDeactivation", record_uid="u", timestamp_ms=1,
                        spaces_tenant_id="", spaces_tenant_name="", partner_tenant_id="")
    assert "appDeactivation" in event


def test_a_keep_alive_has_no_payload_and_may_have_empty_tenant_fields():
    stamp = now_ms()

    line = fp.keep_alive(timestamp_ms=stamp)

    assert set(line) == ENVELOPE_FIELDS and line["eventType"] == "KEEP_ALIVE"
    assert line["recordTimestamp"] == stamp
    assert line["spacesTenantId"] == line["spacesTenantName"] == line["partnerTenantId"] == ""
    with pytest.raises(ValueError):
        envelope_of("KEEP_ALIVE", {})


def test_a_location_is_nested_innermost_first_up_to_the_root():
    where = fp.location_path(ROOT, CAMPUS, BUILDING, FLOOR, ZONE)

    chain = []
    node = where
    while node is not None:
        chain.append((node["locationId"], node["inferredLocationTypes"]))
        node = node.get("parent")
    assert chain == [("loc-fjord", ["ZONE"]), ("loc-floor-2", ["FLOOR"]), ("loc-hq", ["BUILDING"]),
                     ("loc-campus", ["CAMPUS"]), ("loc-root", ["ROOT"])]
    assert where["name"] == "Fjord" and where["sourceLocationId"] == "zone-0042"
    assert where["parent"]["floorNumber"] == 2 and "floorNumber" not in where["parent"]["parent"]


def test_a_location_type_spaces_does_not_have_is_refused():
    with pytest.raises(ValueError, match="ROOM"):
        fp.location("loc-1", "Fjord", ["ROOM"])


def test_each_webex_telemetry_element_carries_one_bare_metric():
    device = fp.device_info("dev-1", mac_address="5a:9d:00:00:00:01", product="Cisco Room Kit", display_name="Fjord",
                            serial_number="FOC123", workspace_id="ws-fjord", org_id="org-1")

    update = fp.webex_telemetry_update(device, fp.location_path(ROOT, ZONE),
                                       fp.telemetries({"presence": None, "peopleCount": fp.UNKNOWN_PEOPLE,
                                                       "ambientTemp": 21.5}))

    assert update["telemetries"] == [{"presence": None}, {"peopleCount": -1}, {"ambientTemp": 21.5}]
    assert set(update["deviceInfo"]) == {"deviceId", "macAddress", "product", "displayName", "serialNumber",
                                         "workspaceId", "orgId"}
    assert update["deviceInfo"]["workspaceId"] == "ws-fjord" and update["location"]["locationId"] == "loc-fjord"
    with pytest.raises(ValueError):
        fp.telemetry("PEOPLE_COUNT", 3)


def test_camera_counts_say_the_count_and_its_change():
    assert fp.camera_counts(fp.location_path(ZONE), 4, -1) == {
        "location": fp.location_path(ZONE), "count": 4, "countDelta": -1}


def test_space_occupancy_is_a_window_aggregate_with_a_local_start():
    start = 1_741_770_000_000  # 2025-03-12 09:00 UTC

    payload = fp.space_occupancy(fp.location_path(ZONE), fp.space("sp-1", "Fjord", floor_id="loc-floor-2",
                                                                  space_type="ROOM", capacity=12,
                                                                  occupancy_type="PEOPLE"),
                                 people_count=3, people_presence=True, booking_status=False, peak_people_count=5,
                                 window_start_ms=start, time_zone="Europe/Oslo")

    assert payload["windowStartTimestamp"] == start and payload["windowStartDateTime"] == "2025-03-12T10:00:00"
    assert (payload["peopleCount"], payload["peoplePresence"], payload["peakPeopleCount"]) == (3, True, 5)
    assert payload["bookingStatus"] is False and payload["timeZone"] == "Europe/Oslo"
    assert set(payload["space"]) == {"id", "name", "floorId", "type", "capacity", "occupancyType"}


def test_device_counts_and_presence_count_devices():
    counts = fp.device_counts(fp.location_path(ZONE), associated_count=6, associated_delta=2,
                              estimated_probing_count=9, user_count=4)
    presence = fp.device_presence(fp.location_path(ZONE), "DEVICE_IN_ACTIVE_EVENT", active_devices_count=3,
                                  in_active_devices_count=1)

    assert (counts["associatedCount"], counts["associatedDelta"], counts["userCount"]) == (6, 2, 4)
    assert presence["presenceEventType"] == "DEVICE_IN_ACTIVE_EVENT"
    assert (presence["activeDevicesCount"], presence["inActiveDevicesCount"]) == (3, 1)
    with pytest.raises(ValueError):
        fp.device_presence(fp.location_path(ZONE), "USER_ENTRY_EVENT", active_devices_count=1,
                           in_active_devices_count=0)
    assert fp.user_presence(fp.location_path(ZONE), "USER_ENTRY_EVENT", active_devices_count=1,
                            in_active_devices_count=0)["presenceEventType"] == "USER_ENTRY_EVENT"


def test_iot_telemetry_keeps_the_blocks_the_sensor_has():
    payload = fp.iot_telemetry({"deviceType": "MERAKI_MT30", "deviceId": "iot-1"}, fp.location_path(ZONE),
                               {"occupancyStatus": {"occupied": True}, "battery": {"value": 88}})

    assert set(payload) == {"deviceInfo", "location", "occupancyStatus", "battery"}


def test_a_hierarchy_change_names_its_change_and_the_time_zone_in_location_details():
    change = fp.location_hierarchy_change("ADD", fp.location_path(ROOT, ZONE),
                                          fp.location_details("Europe/Oslo", "Oslo", "Norway"))

    assert change["changeType"] == "ADD"
    assert change["locationDetails"] == {"timeZone": "Europe/Oslo", "city": "Oslo", "country": "Norway"}
    assert "timeZone" not in change["location"]
    with pytest.raises(ValueError):
        fp.location_hierarchy_change("ADDED", fp.location_path(ZONE))


def test_an_app_activation_names_the_tenants_and_the_instance():
    payload = fp.app_activation(spaces_tenant_name="Contoso", spaces_tenant_id="73105", partner_tenant_id="p-1",
                                name="spaces-calendar", reference_id="ref-1", instance_name="prod")

    assert set(payload) == {"spacesTenantName", "spacesTenantId", "partnerTenantId", "name", "referenceId",
                            "instanceName"}
