"""Pure parsing of Firehose lines and their translation into neutral occupancy signals. No I/O here.

Every event carries ``recordUid``, ``recordTimestamp`` (ms), ``spacesTenantId``, ``partnerTenantId``,
``eventType`` and one payload object named after its kind. No real Firehose sample or ``.proto`` was available to
us (see ``../shared/fixtures/README.md``), so the payload readers below follow the field names of Cisco's public
Firehose documentation as far as we know them and are deliberately tolerant: the payload is found by its object
name whatever ``eventType`` says, numbers may come as strings, and a missing field makes that one event skipped and
counted, never the stream stopped. The shapes we read:

========================== ==================================================================================
payload object             fields read
========================== ==================================================================================
``webexTelemetryUpdate``   ``device.workspaceId``; ``telemetries[]`` of ``{type: PEOPLE_COUNT, peopleCount:
                           {peopleCount}}`` (−1 = unknown) and ``{type: PRESENCE, presence: {presenceStatus}}``
``spaceOccupancy``         ``location.locationId``; ``occupancy.{peopleCount, presence, peakCount}``;
                           ``windowStartTime``/``windowEndTime`` (ms)
``cameraCounts``           ``location.locationId``; ``totalCount`` or the sum of ``counts[].count``
``deviceCounts``           ``location.locationId``; ``associatedCount`` (devices, not people: presence only)
``devicePresence``         ``location.locationId``; ``presenceEventType`` (an entry means someone is there)
``iotTelemetry``           ``location.locationId``; ``occupancy.{occupancyStatus|occupied, peopleCount}``
``locationHierarchyChange`` ``changes[]`` (or one) of ``{changeType: ADDED|UPDATED|DELETED, location:
                           {locationId, name, type|inferredLocationTypes, timeZone}}``
``appActivation``          recorded as it is
========================== ==================================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KEEP_ALIVE = "KEEP_ALIVE"
#: Longest line we parse; a longer one is refused whole (it cannot be a sane event).
MAX_LINE_BYTES = 1_000_000

SIGNAL_PAYLOADS = ("webexTelemetryUpdate", "spaceOccupancy", "cameraCounts", "deviceCounts", "devicePresence",
                   "iotTelemetry")
OTHER_PAYLOADS = ("locationHierarchyChange", "appActivation")


class BadLine(ValueError):
    """A line that is not a Firehose event at all (not JSON, not an object, no recordUid/recordTimestamp)."""


@dataclass(frozen=True)
class Event:
    uid: str
    timestamp_ms: int
    spaces_tenant_id: str
    event_type: str
    #: The name of the payload object present (``spaceOccupancy`` ...), or "" when none we know is there.
    kind: str
    payload: dict[str, Any]
    partner_tenant_id: str = ""

    @property
    def observed_at(self) -> datetime:
        return from_ms(self.timestamp_ms)


@dataclass(frozen=True)
class SignalDraft:
    """A signal before its room is resolved: ``key_kind`` is ``spaces_location`` or ``webex_workspace``."""

    key_kind: str
    key: str
    source: str
    observed_at: datetime
    present: bool | None = None
    people_count: int | None = None
    peak_count: int | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class LocationChange:
    change: str  # ADDED | UPDATED | DELETED
    location_id: str
    name: str = ""
    is_room: bool = False
    time_zone: str = ""


@dataclass
class Reading:
    """What one event means for us; ``skipped`` names why nothing could be taken from it."""

    signals: list[SignalDraft] = field(default_factory=list)
    location_changes: list[LocationChange] = field(default_factory=list)
    activation: dict[str, Any] | None = None
    skipped: str = ""


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def parse_line(line: bytes | str) -> Event | None:
    """The event on one NDJSON line; None for a keep-alive or a blank line; BadLine for anything else."""
    if isinstance(line, bytes | bytearray):
        if len(line) > MAX_LINE_BYTES:
            raise BadLine(f"line of {len(line)} bytes is longer than {MAX_LINE_BYTES}")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadLine(f"not UTF-8: {error}") from None
    text = line.strip()
    if not text or text.strip('"') == KEEP_ALIVE:
        return None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    if data.get("eventType") == KEEP_ALIVE:
        return None
    uid, timestamp = data.get("recordUid"), _int(data.get("recordTimestamp"))
    if not isinstance(uid, str) or not uid or timestamp is None or timestamp <= 0:
        raise BadLine("no recordUid or recordTimestamp")
    kind = next((name for name in (*SIGNAL_PAYLOADS, *OTHER_PAYLOADS) if isinstance(data.get(name), dict)), "")
    return Event(uid=uid, timestamp_ms=timestamp, spaces_tenant_id=str(data.get("spacesTenantId") or ""),
                 event_type=str(data.get("eventType") or ""), kind=kind, payload=data.get(kind) or {},
                 partner_tenant_id=str(data.get("partnerTenantId") or ""))


def read(event: Event) -> Reading:
    """Translate one event; never raises on missing or odd fields (the event is then skipped, with a reason)."""
    reader = _READERS.get(event.kind)
    if reader is None:
        return Reading(skipped=f"unknown_type:{event.event_type or 'none'}")
    try:
        return reader(event)
    except (AttributeError, KeyError, TypeError, ValueError):
        return Reading(skipped=f"malformed:{event.kind}")


# --------------------------------------------------------------------------------------------------------
# Readers, one per payload object
# --------------------------------------------------------------------------------------------------------


def _webex(event: Event) -> Reading:
    workspace = str((event.payload.get("device") or {}).get("workspaceId") or "")
    if not workspace:
        return Reading(skipped="missing:workspaceId")
    present: bool | None = None
    count: int | None = None
    seen = False
    for item in event.payload.get("telemetries") or []:
        kind = str(item.get("type") or "").upper()
        if kind == "PEOPLE_COUNT":
            seen = True
            count = _count((item.get("peopleCount") or {}).get("peopleCount"))
        elif kind == "PRESENCE":
            seen = True
            present = _presence((item.get("presence") or {}).get("presenceStatus"))
    if not seen:
        return Reading(skipped="no_occupancy_telemetry")
    return Reading(signals=[SignalDraft("webex_workspace", workspace, "webex", event.observed_at, present, count)])


def _space_occupancy(event: Event) -> Reading:
    location = _location_id(event)
    occupancy = event.payload.get("occupancy") or {}
    count = _count(occupancy.get("peopleCount"))
    present = _presence(occupancy.get("presence"))
    if present is None and count is not None:
        present = count > 0
    window_end = _int(event.payload.get("windowEndTime"))
    observed = _int(event.payload.get("windowStartTime"))
    return Reading(signals=[SignalDraft(
        "spaces_location", location, "spaces_occupancy", from_ms(observed) if observed else event.observed_at,
        present, count, _count(occupancy.get("peakCount")), from_ms(window_end) if window_end else None,
    )])


def _camera(event: Event) -> Reading:
    location = _location_id(event)
    total = _count(event.payload.get("totalCount"))
    if total is None and isinstance(event.payload.get("counts"), list):
        counts = [_count(item.get("count")) for item in event.payload["counts"]]
        total = None if any(value is None for value in counts) else sum(counts)  # type: ignore[arg-type]
    return Reading(signals=[SignalDraft("spaces_location", location, "spaces_camera", event.observed_at,
                                        None if total is None else total > 0, total)])


def _device_counts(event: Event) -> Reading:
    location = _location_id(event)
    devices = _count(event.payload.get("associatedCount"))
    # Wi-Fi devices are not people (one person carries two, a printer carries one): presence only.
    return Reading(signals=[SignalDraft("spaces_location", location, "spaces_wifi", event.observed_at,
                                        None if devices is None else devices > 0, None)])


def _device_presence(event: Event) -> Reading:
    location = _location_id(event)
    kind = str(event.payload.get("presenceEventType") or "").upper()
    if "ENTRY" not in kind and "ACTIVE" not in kind or "INACTIVE" in kind:
        # One device leaving says nothing about the others still in the room.
        return Reading(skipped="presence_exit")
    return Reading(signals=[SignalDraft("spaces_location", location, "spaces_wifi", event.observed_at, True, None)])


def _iot(event: Event) -> Reading:
    occupancy = event.payload.get("occupancy")
    if not isinstance(occupancy, dict):
        return Reading(skipped="no_occupancy_block")
    location = _location_id(event)
    status = occupancy.get("occupancyStatus", occupancy.get("occupied"))
    count = _count(occupancy.get("peopleCount"))
    present = _presence(status)
    if present is None and count is not None:
        present = count > 0
    return Reading(signals=[SignalDraft("spaces_location", location, "spaces_iot", event.observed_at, present,
                                        count)])


def _hierarchy(event: Event) -> Reading:
    changes = event.payload.get("changes")
    items = changes if isinstance(changes, list) else [event.payload]
    out = []
    for item in items:
        location = item.get("location") or {}
        location_id = str(location.get("locationId") or "")
        if not location_id:
            continue
        types = {str(location.get("type") or "").upper(), *map(str.upper, location.get("inferredLocationTypes") or [])}
        out.append(LocationChange(change=str(item.get("changeType") or "UPDATED").upper(), location_id=location_id,
                                  name=str(location.get("name") or ""), is_room="ROOM" in types,
                                  time_zone=str(location.get("timeZone") or "")))
    if not out:
        return Reading(skipped="missing:location")
    return Reading(location_changes=out)


def _activation(event: Event) -> Reading:
    return Reading(activation=dict(event.payload))


_READERS = {
    "webexTelemetryUpdate": _webex,
    "spaceOccupancy": _space_occupancy,
    "cameraCounts": _camera,
    "deviceCounts": _device_counts,
    "devicePresence": _device_presence,
    "iotTelemetry": _iot,
    "locationHierarchyChange": _hierarchy,
    "appActivation": _activation,
}


# --------------------------------------------------------------------------------------------------------
# Tolerant value readers
# --------------------------------------------------------------------------------------------------------


def _location_id(event: Event) -> str:
    location_id = str((event.payload.get("location") or {}).get("locationId") or "")
    if not location_id:
        raise ValueError("no location.locationId")
    return location_id


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _count(value: Any) -> int | None:
    """A people count; negative (Webex sends −1) means unknown, never zero."""
    number = _int(value)
    return number if number is not None and number >= 0 else None


def _presence(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().upper()
    if text in ("YES", "TRUE", "PRESENT", "OCCUPIED"):
        return True
    if text in ("NO", "FALSE", "NOT_PRESENT", "ABSENT", "UNOCCUPIED", "VACANT"):
        return False
    return None
