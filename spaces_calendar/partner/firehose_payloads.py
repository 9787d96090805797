"""Cisco Spaces Firehose events in the shapes the real stream sends, for the fake Firehose, the sandbox and tests.

Every shape here comes from ``../shared/DESIGN.md`` section 6 (field names as production consumers of the real
stream read them; Cisco's public docs say the JSON names are the camelCase of the ``.proto`` fields), never from
what our parser (:mod:`firehose.events`) happens to read: a fake that speaks our parser's dialect can only prove
that the parser agrees with itself.

* **Envelope**: ``recordUid``, ``recordTimestamp`` (ms), ``spacesTenantId``, ``spacesTenantName``,
  ``partnerTenantId``, ``eventType`` (the enum name) and **one** payload object named by the camelCase oneof
  (:data:`PAYLOAD_OF_TYPE`). ``KEEP_ALIVE`` has no payload, and its tenant fields may be empty strings.
* **location** (in every payload): recursive, innermost first, ``{locationId, name, inferredLocationTypes[],
  parent: {...}, sourceLocationId, floorNumber}``; a room is usually a ZONE inside FLOOR inside BUILDING inside
  CAMPUS inside ROOT.
* **webexTelemetryUpdate**: ``deviceInfo``, ``location``, ``telemetries[]`` where each element carries **one**
  bare metric (``{"presence": true}``, ``{"peopleCount": 3}``); presence null and peopleCount −1 mean unknown.

Uncertain, because no real sample or ``.proto`` was at hand (``../shared/fixtures/README.md``): the payload name of
``APP_DE_ACTIVATION`` (say it with ``payload_name``), whether a ``KEEP_ALIVE`` carries a ``recordUid``, the names of
``devicePresence``'s entry/exit timestamps, the inner shape of ``iotTelemetry``'s blocks, the units of the Webex
environment metrics, and the exact format of ``spaceOccupancy.windowStartDateTime`` (local, without offset here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

KEEP_ALIVE = "KEEP_ALIVE"
APP_DE_ACTIVATION = "APP_DE_ACTIVATION"
#: eventType → the payload object it carries (v1 proto names, v2 additions).
PAYLOAD_OF_TYPE = {
    "DEVICE_ENTRY": "deviceEntry",
    "DEVICE_EXIT": "deviceExit",
    "PROFILE_UPDATE": "deviceProfileUpdate",
    "LOCATION_CHANGE": "locationHierarchyChange",
    "DEVICE_LOCATION_UPDATE": "deviceLocationUpdate",
    "APP_ACTIVATION": "appActivation",
    "TP_PEOPLE_COUNT_UPDATE": "tpPeopleCountUpdate",
    "DEVICE_PRESENCE": "devicePresence",
    "USER_PRESENCE": "userPresence",
    "IOT_TELEMETRY": "iotTelemetry",
    "DEVICE_COUNT": "deviceCounts",
    "CAMERA_COUNT": "cameraCounts",
    "RAW_CAMERA_COUNT": "rawCameraCounts",
    "NETWORK_STATUS_UPDATE": "networkStatusUpdate",
    "WEBEX_TELEMETRY": "webexTelemetryUpdate",
    "SPACE_OCCUPANCY": "spaceOccupancy",
}
TYPE_OF_PAYLOAD = {payload: event_type for event_type, payload in PAYLOAD_OF_TYPE.items()}
LOCATION_TYPES = ("ROOT", "CAMPUS", "BUILDING", "NETWORK", "FLOOR", "ZONE")
CHANGE_TYPES = ("ADD", "UPDATE", "REMOVE", "MOVE")
#: The metrics a Webex device reports, one per ``telemetries[]`` element.
WEBEX_METRICS = ("presence", "peopleCount", "soundLevel", "ambientNoise", "ambientTemp", "relativeHumidity",
                 "airQuality")
DEVICE_PRESENCE_TYPES = ("DEVICE_ENTRY_EVENT", "DEVICE_ACTIVE_EVENT", "DEVICE_IN_ACTIVE_EVENT", "DEVICE_EXIT_EVENT")
USER_PRESENCE_TYPES = ("USER_ENTRY_EVENT", "USER_ACTIVE_EVENT", "USER_IN_ACTIVE_EVENT", "USER_EXIT_EVENT")
#: Webex: a people count the device does not know.
UNKNOWN_PEOPLE = -1


# --------------------------------------------------------------------------------------------------------
# The envelope
# --------------------------------------------------------------------------------------------------------


def envelope(event_type: str, payload: Mapping[str, Any] | None, *, record_uid: str, timestamp_ms: int,
             spaces_tenant_id: str, spaces_tenant_name: str, partner_tenant_id: str,
             payload_name: str | None = None) -> dict[str, Any]:
    """One Firehose line as a dict: the envelope fields and the one payload object ``event_type`` names.

    ``payload_name`` is for event types whose payload name we do not know (``APP_DE_ACTIVATION``) or make up.
    """
    event: dict[str, Any] = {
        "recordUid": record_uid,
        "recordTimestamp": int(timestamp_ms),
        "spacesTenantId": spaces_tenant_id,
        "spacesTenantName": spaces_tenant_name,
        "partnerTenantId": partner_tenant_id,
        "eventType": event_type,
    }
    if event_type == KEEP_ALIVE:
        if payload is not None:
            raise ValueError("a KEEP_ALIVE carries no payload")
        return event
    name = payload_name or PAYLOAD_OF_TYPE.get(event_type)
    if not name:
        raise ValueError(f"no known payload for eventType {event_type!r}: pass payload_name")
    event[name] = dict(payload or {})
    return event


def keep_alive(*, timestamp_ms: int, record_uid: str = "", spaces_tenant_id: str = "", spaces_tenant_name: str = "",
               partner_tenant_id: str = "") -> dict[str, Any]:
    """A ``KEEP_ALIVE`` line: no payload; the tenant fields may be empty (they are by default here)."""
    return envelope(KEEP_ALIVE, None, record_uid=record_uid, timestamp_ms=timestamp_ms,
                    spaces_tenant_id=spaces_tenant_id, spaces_tenant_name=spaces_tenant_name,
                    partner_tenant_id=partner_tenant_id)


def payload_of(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The payload object of an envelope and its name: the one ``eventType`` names, else the only other object."""
    name = PAYLOAD_OF_TYPE.get(str(event.get("eventType") or ""), "")
    if isinstance(event.get(name), dict):
        return name, event[name]
    for key, value in event.items():
        if isinstance(value, dict):
            return key, value
    return "", {}


# --------------------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One level of a location hierarchy (ROOT, CAMPUS, BUILDING, FLOOR, ZONE ...)."""

    location_id: str
    name: str
    types: tuple[str, ...]
    source_location_id: str = ""
    floor_number: int | None = None


def location(location_id: str, name: str, types: Sequence[str], *, parent: Mapping[str, Any] | None = None,
             source_location_id: str = "", floor_number: int | None = None) -> dict[str, Any]:
    """One location node; ``parent`` is the node it sits in (itself with its own parent, up to ROOT)."""
    unknown = set(types) - set(LOCATION_TYPES)
    if unknown:
        raise ValueError(f"unknown inferredLocationTypes {sorted(unknown)}")
    node: dict[str, Any] = {"locationId": location_id, "name": name, "inferredLocationTypes": list(types)}
    if parent is not None:
        node["parent"] = dict(parent)
    if source_location_id:
        node["sourceLocationId"] = source_location_id
    if floor_number is not None:
        node["floorNumber"] = floor_number
    return node


def location_path(*levels: Level) -> dict[str, Any]:
    """The innermost level with every outer one nested as ``parent``; ``levels`` go outermost (ROOT) first."""
    if not levels:
        raise ValueError("a location needs at least one level")
    node: dict[str, Any] | None = None
    for level in levels:
        node = location(level.location_id, level.name, level.types, parent=node,
                        source_location_id=level.source_location_id, floor_number=level.floor_number)
    assert node is not None
    return node


def location_details(time_zone: str, city: str = "", country: str = "", **more: Any) -> dict[str, Any]:
    """``locationDetails`` of a hierarchy change (the time zone of a room is here, not in ``location``)."""
    return {"timeZone": time_zone, "city": city, "country": country, **more}


# --------------------------------------------------------------------------------------------------------
# Payloads that say something about people in rooms
# --------------------------------------------------------------------------------------------------------


def device_info(device_id: str, *, mac_address: str = "", product: str = "", display_name: str = "",
                serial_number: str = "", workspace_id: str = "", org_id: str = "") -> dict[str, Any]:
    """A Webex device as ``webexTelemetryUpdate.deviceInfo`` names it; ``workspaceId`` joins to Webex."""
    return {"deviceId": device_id, "macAddress": mac_address, "product": product, "displayName": display_name,
            "serialNumber": serial_number, "workspaceId": workspace_id, "orgId": org_id}


def telemetry(metric: str, value: Any) -> dict[str, Any]:
    """One ``telemetries[]`` element: one bare metric, ``{"peopleCount": 3}``; presence None means unknown."""
    if metric not in WEBEX_METRICS:
        raise ValueError(f"unknown Webex metric {metric!r}")
    return {metric: value}


def telemetries(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One element per metric, in the order given."""
    return [telemetry(metric, value) for metric, value in metrics.items()]


def webex_telemetry_update(device: Mapping[str, Any], where: Mapping[str, Any],
                           elements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"deviceInfo": dict(device), "location": dict(where), "telemetries": [dict(e) for e in elements]}


def camera_counts(where: Mapping[str, Any], count: int, count_delta: int) -> dict[str, Any]:
    """A Meraki camera aggregate, sent when the aggregated count changes: the count and the change."""
    return {"location": dict(where), "count": count, "countDelta": count_delta}


def space(space_id: str, name: str, *, floor_id: str = "", space_type: str = "", capacity: int | None = None,
          occupancy_type: str = "") -> dict[str, Any]:
    return {"id": space_id, "name": name, "floorId": floor_id, "type": space_type, "capacity": capacity,
            "occupancyType": occupancy_type}


def space_occupancy(where: Mapping[str, Any], the_space: Mapping[str, Any], *, people_count: int,
                    people_presence: bool, booking_status: bool, peak_people_count: int, window_start_ms: int,
                    time_zone: str) -> dict[str, Any]:
    """A per-window aggregate; ``bookingStatus`` is Spaces' own booked flag, not our calendar's."""
    local = datetime.fromtimestamp(window_start_ms / 1000, UTC).astimezone(ZoneInfo(time_zone))
    return {"location": dict(where), "space": dict(the_space), "peopleCount": people_count,
            "peoplePresence": people_presence, "bookingStatus": booking_status, "peakPeopleCount": peak_people_count,
            "windowStartTimestamp": int(window_start_ms),
            "windowStartDateTime": local.replace(tzinfo=None).isoformat(timespec="seconds"), "timeZone": time_zone}


def device_counts(where: Mapping[str, Any], *, associated_count: int, associated_delta: int = 0,
                  estimated_probing_count: int = 0, user_count: int = 0, **more: Any) -> dict[str, Any]:
    """Wi-Fi devices in a location over a 1-minute interval: devices, not people."""
    return {"location": dict(where), "associatedCount": associated_count, "associatedDelta": associated_delta,
            "estimatedProbingCount": estimated_probing_count, "userCount": user_count, **more}


def device_presence(where: Mapping[str, Any], presence_event_type: str, *, active_devices_count: int,
                    in_active_devices_count: int, device: Mapping[str, Any] | None = None,
                    entry_timestamp_ms: int | None = None, exit_timestamp_ms: int | None = None) -> dict[str, Any]:
    """A device entering, going (in)active in or leaving a location: inactive after ~10 min, exit after hours."""
    return _presence(DEVICE_PRESENCE_TYPES, where, presence_event_type, active_devices_count,
                     in_active_devices_count, device, entry_timestamp_ms, exit_timestamp_ms)


def user_presence(where: Mapping[str, Any], presence_event_type: str, *, active_devices_count: int,
                  in_active_devices_count: int, user: Mapping[str, Any] | None = None,
                  entry_timestamp_ms: int | None = None, exit_timestamp_ms: int | None = None) -> dict[str, Any]:
    return _presence(USER_PRESENCE_TYPES, where, presence_event_type, active_devices_count,
                     in_active_devices_count, user, entry_timestamp_ms, exit_timestamp_ms, who="user")


def _presence(allowed: tuple[str, ...], where: Mapping[str, Any], kind: str, active: int, inactive: int,
              who_info: Mapping[str, Any] | None, entry_ms: int | None, exit_ms: int | None,
              who: str = "device") -> dict[str, Any]:
    if kind not in allowed:
        raise ValueError(f"presenceEventType {kind!r} is not one of {allowed}")
    payload: dict[str, Any] = {"presenceEventType": kind, "location": dict(where), "activeDevicesCount": active,
                               "inActiveDevicesCount": inactive}
    if who_info is not None:
        payload[who] = dict(who_info)
    # Field names uncertain (DESIGN.md only says "entry/exit timestamps").
    if entry_ms is not None:
        payload["entryTimestamp"] = int(entry_ms)
    if exit_ms is not None:
        payload["exitTimestamp"] = int(exit_ms)
    return payload


def iot_telemetry(device: Mapping[str, Any], where: Mapping[str, Any], blocks: Mapping[str, Any]) -> dict[str, Any]:
    """An IoT sensor's report: ``deviceInfo {deviceType, deviceId, ...}`` and the optional blocks it has
    (``occupancyStatus``, ``pirTrigger``, ``temperature``, ``battery`` ...), each as given."""
    return {"deviceInfo": dict(device), "location": dict(where), **blocks}


# --------------------------------------------------------------------------------------------------------
# Everything else
# --------------------------------------------------------------------------------------------------------


def location_hierarchy_change(change_type: str, where: Mapping[str, Any],
                              details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if change_type not in CHANGE_TYPES:
        raise ValueError(f"changeType {change_type!r} is not one of {CHANGE_TYPES}")
    payload: dict[str, Any] = {"changeType": change_type, "location": dict(where)}
    if details is not None:
        payload["locationDetails"] = dict(details)
    return payload


def app_activation(*, spaces_tenant_name: str, spaces_tenant_id: str, partner_tenant_id: str, name: str,
                   reference_id: str, instance_name: str) -> dict[str, Any]:
    return {"spacesTenantName": spaces_tenant_name, "spacesTenantId": spaces_tenant_id,
            "partnerTenantId": partner_tenant_id, "name": name, "referenceId": reference_id,
            "instanceName": instance_name}


def device_location_update(device: Mapping[str, Any], where: Mapping[str, Any], *, x_pos: float, y_pos: float,
                           confidence_factor: float = 0.0, ssid: str = "", map_id: str = "") -> dict[str, Any]:
    """A Wi-Fi device's position on a floor map: nothing about rooms, which is why the sandbox sends it."""
    return {"device": dict(device), "location": dict(where), "ssid": ssid, "mapId": map_id, "xPos": x_pos,
            "yPos": y_pos, "confidenceFactor": confidence_factor}
