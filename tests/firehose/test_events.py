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
])
def test_lines_that_are_not_events_are_refused_with_a_reason(text, reason):
    with pytest.raises(BadLine, match=reason):
        parse_line(text)


def test_the_envelope_is_read_and_the_payload_found_by_its_name():
    event = parse_line(line("spaceOccupancy", {"location": {"locationId": "loc-1"}}, recordTimestamp=str(STAMP)))
    assert (event.uid, event.timestamp_ms, event.spaces_tenant_id, event.kind) == (
        "event-1", STAMP, "spaces-1", "spaceOccupancy")
    assert event.observed_at == datetime(2025, 11, 22, 8, 26, 40, tzinfo=UTC)


def test_webex_telemetry_gives_presence_and_count_keyed_by_workspace():
    payload = {"device": {"deviceId": "d1", "workspaceId": "ws-1"}, "telemetries": [
        {"type": "PEOPLE_COUNT", "peopleCount": {"peopleCount": "3"}},
        {"type": "PRESENCE", "presence": {"presenceStatus": "PRESENT"}},
        {"type": "AMBIENT_NOISE", "ambientNoise": {"level": 30}},
    ]}
    (signal,) = read(parse_line(line("webexTelemetryUpdate", payload))).signals
    assert (signal.key_kind, signal.key, signal.source) == ("webex_workspace", "ws-1", "webex")
    assert (signal.present, signal.people_count) == (True, 3)


def test_a_webex_count_of_minus_one_is_unknown_never_zero():
    payload = {"device": {"workspaceId": "ws-1"}, "telemetries": [
        {"type": "PEOPLE_COUNT", "peopleCount": {"peopleCount": -1}},
        {"type": "PRESENCE", "presence": {"presenceStatus": "Unknown"}}]}
    (signal,) = read(parse_line(line("webexTelemetryUpdate", payload))).signals
    assert (signal.present, signal.people_count) == (None, None)


def test_space_occupancy_keeps_its_window_and_peak():
    payload = {"location": {"locationId": "loc-1"}, "occupancy": {"peopleCount": 4, "peakCount": 6},
               "windowStartTime": STAMP - 60_000, "windowEndTime": STAMP}
    (signal,) = read(parse_line(line("spaceOccupancy", payload))).signals
    assert (signal.key, signal.source, signal.present, signal.people_count, signal.peak_count) == (
        "loc-1", "spaces_occupancy", True, 4, 6)
    assert signal.window_end == datetime(2025, 11, 22, 8, 26, 40, tzinfo=UTC)
    assert signal.observed_at == datetime(2025, 11, 22, 8, 25, 40, tzinfo=UTC)


def test_camera_counts_are_summed_and_wifi_device_counts_are_presence_only():
    camera = read(parse_line(line("cameraCounts", {"location": {"locationId": "l"},
                                                   "counts": [{"count": 2}, {"count": "1"}]}))).signals[0]
    assert (camera.source, camera.people_count, camera.present) == ("spaces_camera", 3, True)
    devices = read(parse_line(line("deviceCounts", {"location": {"locationId": "l"}, "associatedCount": 5})))
    assert (devices.signals[0].present, devices.signals[0].people_count) == (True, None)


def test_a_device_entering_means_presence_and_one_leaving_means_nothing():
    entry = read(parse_line(line("devicePresence", {"location": {"locationId": "l"},
                                                    "presenceEventType": "DEVICE_ENTRY_EVENT"})))
    assert entry.signals[0].present is True
    exit_ = read(parse_line(line("devicePresence", {"location": {"locationId": "l"},
                                                    "presenceEventType": "DEVICE_EXIT_EVENT"})))
    assert exit_.signals == [] and exit_.skipped == "presence_exit"


def test_iot_telemetry_reads_only_its_occupancy_block():
    occupied = read(parse_line(line("iotTelemetry", {"location": {"locationId": "l"},
                                                     "occupancy": {"occupancyStatus": "false"}})))
    assert occupied.signals[0].present is False
    other = read(parse_line(line("iotTelemetry", {"location": {"locationId": "l"}, "temperature": {"c": 21}})))
    assert other.skipped == "no_occupancy_block"


def test_location_hierarchy_changes_are_read():
    payload = {"changes": [
        {"changeType": "UPDATED", "location": {"locationId": "l1", "name": "Fjord", "type": "ROOM",
                                               "timeZone": "Europe/Oslo"}},
        {"changeType": "DELETED", "location": {"locationId": "l2"}},
    ]}
    changes = read(parse_line(line("locationHierarchyChange", payload))).location_changes
    assert [(c.change, c.location_id, c.is_room, c.time_zone) for c in changes] == [
        ("UPDATED", "l1", True, "Europe/Oslo"), ("DELETED", "l2", False, "")]


@pytest.mark.parametrize("kind, payload, skipped", [
    (None, None, "unknown_type:X"),
    ("spaceOccupancy", {"occupancy": {"peopleCount": 1}}, "malformed:spaceOccupancy"),
    ("webexTelemetryUpdate", {"telemetries": []}, "missing:workspaceId"),
    ("webexTelemetryUpdate", {"device": {"workspaceId": "w"}, "telemetries": "nope"}, "malformed:webexTelemetryUpdate"),
])
def test_unknown_types_and_missing_fields_are_skipped_with_a_reason(kind, payload, skipped):
    assert read(parse_line(line(kind, payload))).skipped == skipped
