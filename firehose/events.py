"""Pure parsing of Firehose lines and their translation into neutral occupancy signals. No I/O here.

The shapes are those of ``../shared/DESIGN.md`` section 6 (field names as production consumers of the real stream
read them). Every line is an envelope: ``recordUid``, ``recordTimestamp`` (ms), ``spacesTenantId``,
``spacesTenantName``, ``partnerTenantId``, ``eventType`` (the enum name) and **one** payload object named by the
camelCase oneof (``WEBEX_TELEMETRY`` → ``webexTelemetryUpdate``, ...). The payload is found by the name its
``eventType`` gives, else by any payload name we know (an envelope whose type and payload disagree is still read),
numbers may come as strings, and a payload of the right name but a wrong shape is skipped and counted
(``malformed:<payload>`` / ``missing:<field>``), never fatal.

=========================== ==================================================================================
payload                     what we read
=========================== ==================================================================================
``webexTelemetryUpdate``    ``deviceInfo.workspaceId`` (the room key; ``device.workspaceId`` of older docs also
                            accepted), ``telemetries[]`` whose elements each carry one bare metric:
                            ``presence`` (true/false, null = unknown) → source ``webex``, ``peopleCount``
                            (−1/null = unknown) → source ``webex_people``. Two sources because the metrics change
                            separately and each holds until it says otherwise. ``{type, peopleCount:
                            {peopleCount}}`` items of older docs are accepted too.
``cameraCounts``            ``location``, ``count`` (``countDelta`` is the change; ``totalCount`` and ``counts[]``
                            of older docs accepted)
``spaceOccupancy``          ``location``, ``peopleCount``, ``peoplePresence``, ``peakPeopleCount``,
                            ``windowStartTimestamp`` (ms): a per-window aggregate, observed at its window start
``iotTelemetry``            ``location``, ``occupancyStatus`` (a block or a value: OCCUPIED/VACANT, true/false)
``locationHierarchyChange`` ``changeType`` ∈ ADD, UPDATE, REMOVE, MOVE; ``location``; ``locationDetails.timeZone``
``appActivation``           recorded as it is
``deviceCounts``,           Wi-Fi devices, not people, and presence events that turn inactive after ~10 min and
``devicePresence``,         exit after hours (DESIGN.md sections 6 and 7): too slow and too loose for a no-show,
``userPresence``            so they give no occupancy signal; their locations are still catalogued for mapping
=========================== ==================================================================================

``location`` is recursive, innermost first: ``{locationId, name, inferredLocationTypes[], parent: {...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

KEEP_ALIVE = "KEEP_ALIVE"
#: Longest line we parse; a longer one is refused whole (it cannot be a sane event).
MAX_LINE_BYTES = 1_000_000
#: Deepest ``location.parent`` chain we follow (Spaces' hierarchy is ROOT > CAMPUS > BUILDING > FLOOR > ZONE).
MAX_LOCATION_DEPTH = 12

#: eventType → payload object (v1 proto names, v2 additions).
PAYLOAD_OF_TYPE = {
    "DEVICE_ENTRY": "deviceEntry", "DEVICE_EXIT": "deviceExit", "PROFILE_UPDATE": "deviceProfileUpdate",
    "LOCATION_CHANGE": "locationHierarchyChange", "DEVICE_LOCATION_UPDATE": "deviceLocationUpdate",
    "APP_ACTIVATION": "appActivation", "TP_PEOPLE_COUNT_UPDATE": "tpPeopleCountUpdate",
    "DEVICE_PRESENCE": "devicePresence", "USER_PRESENCE": "userPresence", "IOT_TELEMETRY": "iotTelemetry",
    "DEVICE_COUNT": "deviceCounts", "CAMERA_COUNT": "cameraCounts", "RAW_CAMERA_COUNT": "rawCameraCounts",
    "NETWORK_STATUS_UPDATE": "networkStatusUpdate", "WEBEX_TELEMETRY": "webexTelemetryUpdate",
    "SPACE_OCCUPANCY": "spaceOccupancy",
}
SIGNAL_PAYLOADS = ("webexTelemetryUpdate", "spaceOccupancy", "cameraCounts", "iotTelemetry")
#: Read for their locations only (see the module docstring).
LOCATION_ONLY_PAYLOADS = ("deviceCounts", "devicePresence", "userPresence", "rawCameraCounts", "tpPeopleCountUpdate")
OTHER_PAYLOADS = ("locationHierarchyChange", "appActivation")
_KNOWN_PAYLOADS = (*SIGNAL_PAYLOADS, *LOCATION_ONLY_PAYLOADS, *OTHER_PAYLOADS)

SPACES_LOCATION, WEBEX_WORKSPACE = "spaces_location", "webex_workspace"


class BadLine(ValueError):
    """A line that is not a Firehose event at all (not JSON, not an object, no recordUid/recordTimestamp)."""


# Event and SignalDraft are made once or twice per line: their __init__ sets every field in one go. (The one a
# frozen dataclass generates sets each field through object.__setattr__, which was most of the cost of an event.)
# They are frozen dataclasses all the same: fields, equality, repr, and no assignment after creation.


@dataclass(frozen=True, init=False)
class Event:
    uid: str
    timestamp_ms: int
    spaces_tenant_id: str
    event_type: str
    #: The name of the payload object present (``spaceOccupancy`` ...), or "" when none we know is there.
    kind: str
    payload: dict[str, Any]
    partner_tenant_id: str = ""

    def __init__(self, uid: str, timestamp_ms: int, spaces_tenant_id: str, event_type: str, kind: str,
                 payload: dict[str, Any], partner_tenant_id: str = ""):
        self.__dict__.update(uid=uid, timestamp_ms=timestamp_ms, spaces_tenant_id=spaces_tenant_id,
                             event_type=event_type, kind=kind, payload=payload, partner_tenant_id=partner_tenant_id)

    @property
    def observed_at(self) -> datetime:
        return from_ms(self.timestamp_ms)


@dataclass(frozen=True)
class SourceSeen:
    """A location or workspace an event names, with what it says about it (for the Sensors page)."""

    kind: str
    key: str
    name: str = ""
    #: Names from the outermost location in, without the location itself.
    hierarchy: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    parent_key: str = ""
    time_zone: str = ""


@dataclass(frozen=True, init=False)
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

    def __init__(self, key_kind: str, key: str, source: str, observed_at: datetime, present: bool | None = None,
                 people_count: int | None = None, peak_count: int | None = None,
                 window_end: datetime | None = None):
        self.__dict__.update(key_kind=key_kind, key=key, source=source, observed_at=observed_at, present=present,
                             people_count=people_count, peak_count=peak_count, window_end=window_end)


@dataclass(frozen=True)
class LocationChange:
    change: str  # ADD | UPDATE | REMOVE | MOVE
    location_id: str
    name: str = ""
    is_room: bool = False
    time_zone: str = ""


@dataclass
class Reading:
    """What one event means for us; ``skipped`` names why no signal could be taken from it."""

    signals: list[SignalDraft] = field(default_factory=list)
    location_changes: list[LocationChange] = field(default_factory=list)
    seen: list[SourceSeen] = field(default_factory=list)
    activation: dict[str, Any] | None = None
    skipped: str = ""


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def parse_line(line: bytes | str) -> Event | None:
    """The event on one NDJSON line; None for a keep-alive or a blank line; BadLine for anything else."""
    if isinstance(line, str):
        try:
            line = line.encode("utf-8")
        except UnicodeEncodeError as error:  # a lone surrogate
            raise BadLine(f"not UTF-8: {error}") from None
    if len(line) > MAX_LINE_BYTES:
        raise BadLine(f"line of {len(line)} bytes is longer than {MAX_LINE_BYTES}")
    text = line.strip()
    if not text or text.strip(b'"') == b"KEEP_ALIVE":
        return None
    if b"\\u0000" in text:
        # A NUL in any string: PostgreSQL's text cannot hold it, and one such event would fail its whole batch
        # again at every reconnect. No real event has one.
        raise BadLine("a NUL character (\\u0000) in the line")
    try:
        data = orjson.loads(text)  # refuses invalid UTF-8 and nesting deeper than 1,024, with an error
    except orjson.JSONDecodeError as error:
        raise BadLine(f"not UTF-8 or not JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    event_type = data.get("eventType")
    if event_type == KEEP_ALIVE:
        return None
    uid, timestamp = data.get("recordUid"), _int(data.get("recordTimestamp"))
    if not isinstance(uid, str) or not uid or timestamp is None or timestamp <= 0:
        raise BadLine("no recordUid or recordTimestamp")
    event_type = str(event_type or "")
    kind = PAYLOAD_OF_TYPE.get(event_type, "")
    if not isinstance(data.get(kind), dict):
        kind = next((name for name in _KNOWN_PAYLOADS if isinstance(data.get(name), dict)), "")
    return Event(uid=uid, timestamp_ms=timestamp, spaces_tenant_id=str(data.get("spacesTenantId") or ""),
                 event_type=event_type, kind=kind, payload=(data.get(kind) or {}) if kind else {},
                 partner_tenant_id=str(data.get("partnerTenantId") or ""))


def read(event: Event) -> Reading:
    """Translate one event; never raises on missing or odd fields (the event is then skipped, with a reason)."""
    reader = _READERS.get(event.kind)
    if reader is None:
        return Reading(skipped=f"unknown_type:{(event.event_type or 'none')[:60]}")
    try:
        return reader(event)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
        return Reading(skipped=f"malformed:{event.kind}")


# --------------------------------------------------------------------------------------------------------
# Readers, one per payload object
# --------------------------------------------------------------------------------------------------------


def _webex(event: Event) -> Reading:
    payload = event.payload
    device = payload.get("deviceInfo")
    if not isinstance(device, dict):
        device = payload.get("device") if isinstance(payload.get("device"), dict) else {}
    workspace = _text(device.get("workspaceId"))
    location = _location(payload)
    seen = []
    if workspace:
        key_kind, key = WEBEX_WORKSPACE, workspace
        seen.append(_workspace(workspace, _text(device.get("displayName")), location))
    elif location is not None:
        key_kind, key = SPACES_LOCATION, location.seen.key  # a device with no workspace: its location is the room
    else:
        return Reading(skipped="missing:workspaceId")
    if location is not None:
        seen.append(location.seen)
    telemetries = payload.get("telemetries")
    if not isinstance(telemetries, list):
        return Reading(seen=seen, skipped="missing:telemetries")
    presence: tuple[bool | None] | None = None
    people: tuple[int | None] | None = None
    for item in telemetries:
        if not isinstance(item, dict):
            continue
        if "presence" in item:
            presence = (_presence(_bare(item["presence"], "presence", "presenceStatus")),)
        if "peopleCount" in item:
            people = (_count(_bare(item["peopleCount"], "peopleCount", "current")),)
    if presence is None and people is None:
        return Reading(seen=seen, skipped="no_occupancy_telemetry")
    signals = []
    observed_at = event.observed_at
    if presence is not None:
        signals.append(SignalDraft(key_kind, key, "webex", observed_at, presence[0]))
    if people is not None:
        signals.append(SignalDraft(key_kind, key, "webex_people", observed_at, None, people[0]))
    return Reading(signals=signals, seen=seen)


#: Workspaces already described, by (workspace, device name, the location object read): what they gave.
_WORKSPACES: dict[tuple[str, str, int], tuple[_Location | None, SourceSeen]] = {}


def _workspace(workspace: str, display_name: str, location: _Location | None) -> SourceSeen:
    ident = (workspace, display_name, id(location))
    known = _WORKSPACES.get(ident)
    if known is not None and known[0] is location:
        return known[1]
    seen = SourceSeen(WEBEX_WORKSPACE, workspace, display_name, location.path if location else ())
    if len(_WORKSPACES) >= _LOCATIONS_MAX:
        _WORKSPACES.clear()
    _WORKSPACES[ident] = (location, seen)  # holding the location keeps its id from going to another object
    return seen


def _camera(event: Event) -> Reading:
    location = _required_location(event)
    payload = event.payload
    if "count" in payload:
        total = _count(payload["count"])
    elif "totalCount" in payload:
        total = _count(payload["totalCount"])
    elif isinstance(payload.get("counts"), list):
        counts = [_count(item.get("count")) for item in payload["counts"]]
        total = None if not counts or any(value is None for value in counts) else sum(counts)  # type: ignore
    else:
        return Reading(seen=[location.seen], skipped="missing:count")
    return Reading(seen=[location.seen], signals=[SignalDraft(
        SPACES_LOCATION, location.seen.key, "spaces_camera", event.observed_at,
        None if total is None else total > 0, total)])


def _space_occupancy(event: Event) -> Reading:
    location = _required_location(event)
    payload = event.payload
    values = payload.get("occupancy") if isinstance(payload.get("occupancy"), dict) else payload  # older docs
    count = _count(values.get("peopleCount"))
    present = _presence(values.get("peoplePresence", values.get("presence")))
    if present is None and count is not None:
        present = count > 0
    started = _int(payload.get("windowStartTimestamp", payload.get("windowStartTime")))
    ended = _int(payload.get("windowEndTime"))
    peak = _count(values.get("peakPeopleCount", values.get("peakCount")))
    return Reading(seen=[location.seen], signals=[SignalDraft(
        SPACES_LOCATION, location.seen.key, "spaces_occupancy", from_ms(started) if started else event.observed_at,
        present, count, peak, from_ms(ended) if ended else None)])


def _iot(event: Event) -> Reading:
    location = _required_location(event)
    payload = event.payload
    block = payload.get("occupancyStatus", payload.get("occupancy"))
    if block is None:
        return Reading(seen=[location.seen], skipped="no_occupancy_block")
    count = None
    if isinstance(block, dict):
        count = _count(block.get("peopleCount"))
        block = next((block[name] for name in ("occupancyStatus", "status", "occupied", "value") if name in block),
                     None)
    present = _presence(block)
    if present is None and count is not None:
        present = count > 0
    return Reading(seen=[location.seen], signals=[SignalDraft(SPACES_LOCATION, location.seen.key, "spaces_iot",
                                                              event.observed_at, present, count)])


def _location_only(event: Event) -> Reading:
    location = _location(event.payload)
    return Reading(seen=[location.seen] if location else [], skipped=f"not_occupancy:{event.kind}")


_CHANGES = {"ADD": "ADD", "ADDED": "ADD", "CREATE": "ADD", "UPDATE": "UPDATE", "UPDATED": "UPDATE",
            "REMOVE": "REMOVE", "REMOVED": "REMOVE", "DELETE": "REMOVE", "DELETED": "REMOVE", "MOVE": "MOVE",
            "MOVED": "MOVE"}


def _hierarchy(event: Event) -> Reading:
    changes = event.payload.get("changes")
    items = changes if isinstance(changes, list) else [event.payload]
    out, seen = [], []
    for item in items:
        if not isinstance(item, dict):
            continue
        location = _location(item)
        if location is None:
            continue
        details = item.get("locationDetails") if isinstance(item.get("locationDetails"), dict) else {}
        raw = item.get("location") if isinstance(item.get("location"), dict) else {}
        zone = _text(details.get("timeZone") or raw.get("timeZone"))
        change = _CHANGES.get(_text(item.get("changeType")).upper(), "UPDATE")
        info = location.seen
        seen.append(SourceSeen(info.kind, info.key, info.name, info.hierarchy, info.types, info.parent_key, zone))
        out.append(LocationChange(change=change, location_id=info.key, name=info.name,
                                  is_room=bool({"ZONE", "ROOM"} & set(info.types)), time_zone=zone))
    if not out:
        return Reading(skipped="missing:location")
    return Reading(location_changes=out, seen=seen)


def _activation(event: Event) -> Reading:
    return Reading(activation=dict(event.payload))


_READERS = {
    "webexTelemetryUpdate": _webex,
    "spaceOccupancy": _space_occupancy,
    "cameraCounts": _camera,
    "iotTelemetry": _iot,
    "locationHierarchyChange": _hierarchy,
    "appActivation": _activation,
    **{name: _location_only for name in LOCATION_ONLY_PAYLOADS},
}


# --------------------------------------------------------------------------------------------------------
# Locations and tolerant value readers
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    seen: SourceSeen

    @property
    def path(self) -> tuple[str, ...]:
        """Outermost first, the location itself included."""
        return (*self.seen.hierarchy, self.seen.name) if self.seen.name else self.seen.hierarchy


#: Locations already read, by the values of the fields we read (the locationId, its name, types, type and time zone,
#: the parent's locationId, the parents' names): what they gave. The stream names the same few thousand locations
#: all day, so nearly every location is looked up here rather than read again. Only locations whose fields we read
#: are all strings are kept: a string never equals a number or a bool, so equal values are then the same text too
#: (``1``, ``1.0`` and ``True`` are equal, and would read apart).
_LOCATIONS: dict[tuple, _Location] = {}
_LOCATIONS_MAX = 20_000


def _location(container: dict[str, Any]) -> _Location | None:
    """The payload's ``location`` (innermost first, ``parent`` outwards); None when it names no location."""
    location = container.get("location")
    if not isinstance(location, dict):
        return None
    ident = location.get("locationId")
    signature = None
    if ident.__class__ is str and ident:  # else "id" is read
        types = location.get("inferredLocationTypes")
        parts = [ident, location.get("name"), location.get("timeZone"), location.get("type"),
                 tuple(types) if isinstance(types, list) else types]
        parent = location.get("parent")
        if isinstance(parent, dict):
            parts.append(parent.get("locationId"))
            for _ in range(MAX_LOCATION_DEPTH):
                parts.append(parent.get("name"))
                parent = parent.get("parent")
                if not isinstance(parent, dict):
                    break
        signature = tuple(parts)
        try:
            known = _LOCATIONS.get(signature)
        except TypeError:  # an object or a list where text should be: read it, do not keep it
            known = signature = None
        if known is not None:
            return known
    location_id = _text(location.get("locationId") or location.get("id"))
    if not location_id:
        return None
    clean = ident.__class__ is str and bool(ident)  # else "id" is read, which is not checked here
    names: list[str] = []
    parent = location.get("parent")
    parent_key = ""
    if isinstance(parent, dict):
        parent_id = parent.get("locationId")
        clean = clean and (parent_id is None or parent_id.__class__ is str)
        parent_key = _text(parent_id)
    for _ in range(MAX_LOCATION_DEPTH):
        if not isinstance(parent, dict):
            break
        name = parent.get("name")
        if name:
            clean = clean and name.__class__ is str
            names.append(_text(name))
        parent = parent.get("parent")
    types = location.get("inferredLocationTypes")
    kinds = tuple(_text(kind).upper() for kind in types if kind) if isinstance(types, list) else ()
    if clean and isinstance(types, list):
        clean = all(kind.__class__ is str for kind in types if kind)
    if location.get("type"):
        kinds = (*kinds, _text(location["type"]).upper())
        clean = clean and location["type"].__class__ is str
    name, zone = location.get("name"), location.get("timeZone")
    clean = clean and (name is None or name.__class__ is str) and (zone is None or zone.__class__ is str)
    result = _Location(SourceSeen(SPACES_LOCATION, location_id, _text(name), tuple(reversed(names)), kinds,
                                  parent_key, _text(zone)))
    if clean and signature is not None:
        if len(_LOCATIONS) >= _LOCATIONS_MAX:
            _LOCATIONS.clear()
        _LOCATIONS[signature] = result
    return result


def _required_location(event: Event) -> _Location:
    location = _location(event.payload)
    if location is None:
        raise ValueError("no location.locationId")
    return location


def _bare(value: Any, *names: str) -> Any:
    """A telemetry metric: bare (``{"peopleCount": 3}``), or wrapped in an object of older docs
    (``{"peopleCount": {"peopleCount": 3}}``)."""
    if isinstance(value, dict):
        return next((value[name] for name in (*names, "value") if name in value), None)
    return value


def _text(value: Any) -> str:
    return value.strip()[:200] if isinstance(value, str) else "" if value is None else str(value)[:200]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**62 else None  # NaN and infinities are not numbers
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _count(value: Any) -> int | None:
    """A people count; negative (Webex sends −1) or absent means unknown, never zero."""
    number = _int(value)
    return number if number is not None and 0 <= number < 1_000_000 else None


def _presence(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().upper()
    if text in ("YES", "TRUE", "PRESENT", "OCCUPIED", "IN_USE"):
        return True
    if text in ("NO", "FALSE", "NOT_PRESENT", "ABSENT", "UNOCCUPIED", "VACANT", "NOT_OCCUPIED"):
        return False
    return None
