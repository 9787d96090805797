"""Parsing Firehose lines and reading their payloads: tolerant of odd values, strict about what is an event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from firehose.events import MAX_LINE_BYTES, BadLine, parse_line, read

STAMP = 1_763_800_000_000  # 2025-11-22T08:26:40Z


def line(kind: str | None, payload: dict | None = None, **envelope) -> bytes:
    event = {"recordUid": "event-1", "recordTimestamp": STAMP, "spacesTenantId": "spaces-1",
             "partnerTenantId": "partner-1", "eventType": "X", **envelope}
    if kind:
        event[kind] = payload or {}
    return json.dumps(event).encode()


@pytest.mark.parametrize("text", [b"", b"   ", b"KEEP_ALIVE", b'"KEEP_ALIVE"',
                                  b'{"eventType":"KEEP_ALIVE","recordTimestamp":1}'])
def test_keep_alives_and_blank_lines_are_not_events(text):
    assert parse_line(text) is None


@pytest.mark.parametrize("text, reason", [
    (b"{not json", "not JSON"), (b"[1, 2]", "not a JSON object"), (b"\xff\xfe", "not UTF-8"),
    (b'{"eventType": "DEVICE_PRESENCE"}', "no recordUid"),
    (b'{"recordUid": "e", "recordTimestamp": "soon"}', "no recordUid or recordTimestamp"),
    (b"x" * (MAX_LINE_BYTES + 1), "longer than"),
    # PostgreSQL's text holds no NUL: one such event would fail its batch at every reconnect.
    (b'{"recordUid": "e\\u0000", "recordTimestamp": 1}', "NUL character"),
    (b'{"recordUid": "e\\ud800", "recordTimestamp": 1}', "not JSON"),  # a lone surrogate
])
def test_lines_that_are_not_events_are_refused_with_a_reason(text, reason):
    with pytest.raises(BadLine, match=reason):
        parse_line(text)


def test_the_envelope_is_read_and_the_payload_found_by_its_name():
    event = parse_line(line("spaceOccupancy", {"location": {"locationId": "loc-1"}}, recordTimestamp=str(STAMP)))
    assert (event.uid, event.timestamp_ms, event.spaces_tenant_id, event.kind) == (
        "event-1", STAMP, "spaces-1", "spaceOccupancy")
    assert event.observed_at == datetime(2025, 11, 22, 8, 26, 40, tzinfo=UTC)


# Payload shapes as DESIGN.md section 6 gives them (production consumers of the real stream), not as we would like.

def located(location_id: str = "loc-zone", name: str = "Fjord") -> dict:
    """A location, innermost first: a ZONE on a floor of a building of a campus."""
    return {"locationId": location_id, "name": name, "inferredLocationTypes": ["ZONE"], "parent": {
        "locationId": "loc-floor", "name": "Floor 3", "inferredLocationTypes": ["FLOOR"], "floorNumber": 3, "parent": {
            "locationId": "loc-building", "name": "HQ", "inferredLocationTypes": ["BUILDING"], "parent": {
                "locationId": "loc-campus", "name": "Oslo", "inferredLocationTypes": ["CAMPUS"]}}}}


def webex(*telemetries, workspace="ws-1", **envelope) -> bytes:
    payload = {"deviceInfo": {"deviceId": "d1", "macAddress": "aa:bb", "product": "Cisco Room Kit",
                              "displayName": "Fjord Room Kit", "serialNumber": "FOC1", "workspaceId": workspace,
                              "orgId": "org-1"},
               "location": located(), "telemetries": list(telemetries)}
    return line("webexTelemetryUpdate", payload, eventType="WEBEX_TELEMETRY", **envelope)


def test_webex_telemetry_bare_metrics_give_presence_and_people_as_two_sources_keyed_by_workspace():
    reading = read(parse_line(webex({"presence": True}, {"peopleCount": 3}, {"ambientTemp": 21.5})))
    assert [(s.key_kind, s.key, s.source, s.present, s.people_count) for s in reading.signals] == [
        ("webex_workspace", "ws-1", "webex", True, None), ("webex_workspace", "ws-1", "webex_people", None, 3)]
    workspace = next(seen for seen in reading.seen if seen.kind == "webex_workspace")
    assert (workspace.key, workspace.name, workspace.hierarchy) == ("ws-1", "Fjord Room Kit",
                                                                    ("Oslo", "HQ", "Floor 3", "Fjord"))


def test_one_metric_changing_says_nothing_of_the_other():
    (signal,) = read(parse_line(webex({"peopleCount": 0}))).signals
    assert (signal.source, signal.people_count, signal.present) == ("webex_people", 0, None)


def test_a_webex_null_presence_and_a_count_of_minus_one_are_unknown_readings_never_zero():
    signals = read(parse_line(webex({"presence": None}, {"peopleCount": -1}))).signals
    assert [(s.source, s.present, s.people_count) for s in signals] == [("webex", None, None),
                                                                        ("webex_people", None, None)]


def test_webex_telemetry_without_occupancy_metrics_is_skipped_but_its_device_is_seen():
    reading = read(parse_line(webex({"ambientNoise": 30}, {"relativeHumidity": 40})))
    assert reading.signals == [] and reading.skipped == "no_occupancy_telemetry"
    assert {seen.kind for seen in reading.seen} == {"webex_workspace", "spaces_location"}


def test_older_documented_webex_shapes_are_still_read():
    payload = {"device": {"workspaceId": "ws-1"}, "telemetries": [
        {"type": "PEOPLE_COUNT", "peopleCount": {"peopleCount": "3"}},
        {"type": "PRESENCE", "presence": {"presenceStatus": "PRESENT"}}]}
    signals = read(parse_line(line("webexTelemetryUpdate", payload))).signals
    assert {(s.source, s.present, s.people_count) for s in signals} == {("webex", True, None),
                                                                        ("webex_people", None, 3)}


def test_a_webex_device_with_no_workspace_is_keyed_by_its_location():
    (signal,) = read(parse_line(webex({"presence": False}, workspace=""))).signals
    assert (signal.key_kind, signal.key) == ("spaces_location", "loc-zone")


def test_camera_counts_read_count_and_tolerate_unknown_and_older_shapes():
    camera = read(parse_line(line("cameraCounts", {"location": located(), "count": 2, "countDelta": 1},
                                  eventType="CAMERA_COUNT")))
    (signal,) = camera.signals
    assert (signal.key, signal.source, signal.people_count, signal.present) == ("loc-zone", "spaces_camera", 2, True)
    (empty,) = read(parse_line(line("cameraCounts", {"location": located(), "count": 0, "countDelta": -2}))).signals
    assert (empty.people_count, empty.present) == (0, False)
    (unknown,) = read(parse_line(line("cameraCounts", {"location": located(), "count": None}))).signals
    assert (unknown.people_count, unknown.present) == (None, None)
    older = read(parse_line(line("cameraCounts", {"location": {"locationId": "l"},
                                                  "counts": [{"count": 2}, {"count": "1"}]}))).signals[0]
    assert older.people_count == 3


def test_space_occupancy_is_a_window_observed_at_its_start():
    payload = {"location": located(), "space": {"id": "s1", "name": "Fjord", "capacity": 8}, "peopleCount": 4,
               "peoplePresence": True, "bookingStatus": True, "peakPeopleCount": 6,
               "windowStartTimestamp": STAMP - 60_000, "windowStartDateTime": "2025-11-22T09:25:40",
               "timeZone": "Europe/Oslo"}
    (signal,) = read(parse_line(line("spaceOccupancy", payload, eventType="SPACE_OCCUPANCY"))).signals
    assert (signal.key, signal.source, signal.present, signal.people_count, signal.peak_count) == (
        "loc-zone", "spaces_occupancy", True, 4, 6)
    assert signal.observed_at == datetime(2025, 11, 22, 8, 25, 40, tzinfo=UTC)


def test_wifi_counts_and_presence_events_give_no_occupancy_but_their_locations_are_seen():
    # Wi-Fi devices are not people, and presence turns inactive after ~10 minutes: too loose for a no-show.
    for kind in ("deviceCounts", "devicePresence", "userPresence"):
        reading = read(parse_line(line(kind, {"location": located(), "associatedCount": 5,
                                              "presenceEventType": "DEVICE_ENTRY_EVENT"})))
        assert reading.signals == [] and reading.skipped == f"not_occupancy:{kind}"
        assert [seen.key for seen in reading.seen] == ["loc-zone"]


def test_iot_telemetry_reads_its_occupancy_status():
    occupied = read(parse_line(line("iotTelemetry", {"deviceInfo": {"deviceType": "PIR", "deviceId": "i1"},
                                                     "location": located(),
                                                     "occupancyStatus": {"occupancyStatus": "OCCUPIED"}})))
    assert occupied.signals[0].present is True
    vacant = read(parse_line(line("iotTelemetry", {"location": located(), "occupancyStatus": False})))
    assert vacant.signals[0].present is False
    other = read(parse_line(line("iotTelemetry", {"location": located(), "temperature": {"celsius": 21}})))
    assert other.skipped == "no_occupancy_block"


@pytest.mark.parametrize("change, expected", [("ADD", "ADD"), ("UPDATE", "UPDATE"), ("REMOVE", "REMOVE"),
                                              ("MOVE", "MOVE"), ("DELETED", "REMOVE")])
def test_location_hierarchy_changes_carry_their_type_and_the_time_zone_of_their_details(change, expected):
    payload = {"changeType": change, "location": located(),
               "locationDetails": {"timeZone": "Europe/Oslo", "city": "Oslo", "country": "NO"}}
    reading = read(parse_line(line("locationHierarchyChange", payload, eventType="LOCATION_CHANGE")))
    (item,) = reading.location_changes
    assert (item.change, item.location_id, item.name, item.is_room, item.time_zone) == (
        expected, "loc-zone", "Fjord", True, "Europe/Oslo")
    (seen,) = reading.seen
    assert (seen.hierarchy, seen.parent_key, seen.time_zone) == (("Oslo", "HQ", "Floor 3"), "loc-floor",
                                                                 "Europe/Oslo")


def test_the_payload_is_found_by_the_event_type_and_by_its_name_when_they_disagree():
    event = parse_line(line("cameraCounts", {"location": located(), "count": 1}, eventType="WEBEX_TELEMETRY"))
    assert event.kind == "cameraCounts"


@pytest.mark.parametrize("kind, payload, skipped", [
    (None, None, "unknown_type:X"),
    ("spaceOccupancy", {"peopleCount": 1}, "malformed:spaceOccupancy"),
    ("cameraCounts", {"location": {"name": "no id"}, "count": 1}, "malformed:cameraCounts"),
    ("cameraCounts", {"location": {"locationId": "l"}}, "missing:count"),
    ("webexTelemetryUpdate", {"telemetries": []}, "missing:workspaceId"),
    ("webexTelemetryUpdate", {"deviceInfo": {"workspaceId": "w"}, "telemetries": "nope"}, "missing:telemetries"),
    ("webexTelemetryUpdate", {"deviceInfo": "w", "telemetries": [{"presence": True}]}, "missing:workspaceId"),
])
def test_unknown_types_and_missing_fields_are_skipped_with_a_reason(kind, payload, skipped):
    assert read(parse_line(line(kind, payload))).skipped == skipped
