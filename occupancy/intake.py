"""The one door every occupancy source comes through (Firehose today, Webex webhooks later).

A source names its room by a key it knows (our room id, a Spaces location id, a Webex workspace id) and always
within one tenant: a signal timestamped far in the past or future is refused and counted, and a signal is never
attached to another tenant's room. A signal for a Spaces location or Webex workspace the tenant has not mapped to a
room (yet) is kept as a ``PendingSignal``, so that mapping it later applies its history (``sensors.map_source``).

Sources with a few signals call :func:`record`; the Firehose, with thousands per transaction, hands plain tuples to
:func:`record_many`, which does the same in a handful of statements whatever the batch size: one lookup of the
batch's room keys, the signals and the pending signals each written in one statement (PostgreSQL: column arrays,
``occupancy.bulk.insert_columns``; SQLite: one ``executemany``), and each room's latest state per source moved
forward by one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` that never moves it back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from spaces_calendar.core.models import Room

from . import bulk
from .models import OccupancySignal, PendingSignal, RoomSourceState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoomKey:
    """How a source names a room: ``kind`` is ``room``, ``spaces_location`` or ``webex_workspace``."""

    tenant_id: int
    kind: str
    value: str


@dataclass(frozen=True)
class Signal:
    room: RoomKey
    source: str
    observed_at: datetime
    present: bool | None = None
    people_count: int | None = None
    peak_count: int | None = None
    window_end: datetime | None = None
    source_event_id: str = ""


#: A signal as :func:`record_many` takes it: (tenant id, key kind, key, source, observed_at, present, people_count,
#: peak_count, window_end, source_event_id), the fields of :class:`Signal` flattened.
SignalTuple = tuple[int, str, str, str, datetime, bool | None, int | None, int | None, datetime | None, str]


@dataclass
class IntakeResult:
    accepted: int = 0
    #: Kept for a source not mapped to a room yet.
    pending: int = 0
    refused: Counter = field(default_factory=Counter)


_LOOKUP_FIELD = {"room": "pk", "spaces_location": "spaces_location_id", "webex_workspace": "webex_workspace_id"}
_COLUMN = {"room": "id", "spaces_location": "spaces_location_id", "webex_workspace": "webex_workspace_id"}
_SIGNAL_COLUMNS = ["tenant_id", "room_id", "source", "observed_at", "window_end", "present", "people_count",
                   "peak_count", "source_event_id", "received_at"]
_PENDING_COLUMNS = ["tenant_id", "kind", "key", "source", "observed_at", "window_end", "present", "people_count",
                    "peak_count", "source_event_id"]
_STATE_COLUMNS = ["room_id", "source", "observed_at", "present", "people_count"]
#: SQLite's limit on bound variables is 32,766 in current builds, 999 in old ones: stay under the old one.
_SQLITE_CHUNK = 900


def resolve_rooms(keys: set[RoomKey]) -> dict[RoomKey, int]:
    """Our room id for each key that names a room of that very tenant."""
    wanted: dict[tuple[int, str], set[str]] = {}
    for key in keys:
        wanted.setdefault((key.tenant_id, key.kind), set()).add(key.value)
    found = room_ids(wanted)
    return {RoomKey(tenant_id, kind, value): room_id
            for (tenant_id, kind), rooms in found.items() for value, room_id in rooms.items()}


def room_ids(wanted: dict[tuple[int, str], set[str]]) -> dict[tuple[int, str], dict[str, int]]:
    """For each (tenant id, key kind), the room id of each key that names a room of that very tenant: one query
    per tenant and kind, whatever the number of keys. A ``room`` key is the room id in digits."""
    found: dict[tuple[int, str], dict[str, int]] = {}
    table = Room._meta.db_table
    for (tenant_id, kind), values in wanted.items():
        column = _COLUMN.get(kind)
        values = {value for value in values if value and (kind != "room" or _room_number(value))}
        if column is None or not values:
            continue
        rooms = found.setdefault((tenant_id, kind), {})
        if connection.vendor == "postgresql":
            cast = "bigint" if kind == "room" else "text"
            keys = [int(value) for value in values] if kind == "room" else list(values)
            # The non-empty condition lets PostgreSQL use the partial unique index on (tenant, key).
            empty = "" if kind == "room" else f' AND "{column}" <> \'\''
            sql = f'SELECT id, "{column}" FROM {table} WHERE tenant_id = %s AND "{column}" = ANY(%b::{cast}[])'  # noqa: S608
            with bulk.binding_cursor() as cursor:
                cursor.execute(sql + empty, [tenant_id, keys])
                rows = cursor.fetchall()
        else:
            with connection.cursor() as wrapper:
                ordered = sorted(values)
                rows = []
                for start in range(0, len(ordered), _SQLITE_CHUNK):
                    chunk = ordered[start:start + _SQLITE_CHUNK]
                    marks = ", ".join(["%s"] * len(chunk))
                    sql = f'SELECT id, "{column}" FROM {table} WHERE tenant_id = %s AND "{column}" IN ({marks})'  # noqa: S608
                    wrapper.execute(sql, [tenant_id, *chunk])
                    rows += wrapper.fetchall()
        for room_id, value in rows:
            rooms[str(value)] = room_id
    return found


def _room_number(value: str) -> bool:
    """Whether a ``room`` key is a room id as we write it ("007" is not 7's)."""
    return value.isascii() and value.isdigit() and str(int(value)) == value and int(value) < 2**63


def record(signals: list[Signal], *, now: datetime | None = None, history: bool = False) -> IntakeResult:
    """Store the acceptable signals and move each room's latest state forward (never backward).

    Runs inside the caller's transaction when there is one, so a source can make intake and its own
    bookkeeping (the Firehose checkpoint) one atomic step. ``history`` lifts the age limit for a trusted backfill
    (an import, the sandbox's demo weeks); the future limit always holds.
    """
    return record_many([(signal.room.tenant_id, signal.room.kind, signal.room.value, signal.source,
                         signal.observed_at, signal.present, signal.people_count, signal.peak_count,
                         signal.window_end, signal.source_event_id) for signal in signals],
                       now=now, history=history)


def record_many(signals: Sequence[SignalTuple], *, now: datetime | None = None,
                history: bool = False) -> IntakeResult:
    """:func:`record` for signals as plain tuples (:data:`SignalTuple`), in a handful of statements."""
    now = now or timezone.now()
    result = IntakeResult()
    refused = result.refused
    wanted: dict[tuple[int, str], set[str]] = {}
    for signal in signals:
        keys = wanted.get((signal[0], signal[1]))
        if keys is None:
            keys = wanted[(signal[0], signal[1])] = set()
        keys.add(signal[2])
    rooms = room_ids(wanted)
    past = datetime.min.replace(tzinfo=now.tzinfo) if history else now - timedelta(
        seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    future = now + timedelta(seconds=settings.OCCUPANCY_MAX_CLOCK_SKEW_S)
    rows: list[tuple] = []
    pending: list[tuple] = []
    nowhere: dict[str, int] = {}
    for tenant_id, kind, key, source, observed_at, present, people, peak, window_end, event_id in signals:
        room_id = rooms.get((tenant_id, kind), nowhere).get(key)
        if not past <= observed_at <= future:
            refused["out_of_range_time"] += 1
        elif room_id is None:
            if kind == "room" or not key:
                refused["unknown_room"] += 1
                continue
            pending.append((tenant_id, kind, key[:200], source, observed_at, window_end, present, people, peak,
                            event_id[:200]))
        else:
            rows.append((tenant_id, room_id, source, observed_at, window_end, present, people, peak,
                         event_id[:200], now))
    if result.refused:
        logger.info("occupancy intake refused %s", dict(result.refused))
    with transaction.atomic():
        _append(OccupancySignal._meta.db_table, _SIGNAL_COLUMNS, rows, (3, 4, 9))
        _append(PendingSignal._meta.db_table, _PENDING_COLUMNS, pending, (4, 5))
        _advance(rows)
    result.accepted = len(rows)
    result.pending = len(pending)
    return result


def advance_states(rows: list[OccupancySignal]) -> None:
    """Move each room's latest state per source forward to the newest of ``rows`` (never backward)."""
    _advance([(row.tenant_id, row.room_id, row.source, row.observed_at, row.window_end, row.present,
               row.people_count) for row in rows])


def _advance(rows: Iterable[tuple]) -> None:
    """``rows`` in the signal column order (tenant, room, source, observed_at, window_end, present, people, ...):
    one upsert of the newest per room and source, which leaves a state alone that is newer than it already."""
    latest: dict[tuple[int, str], tuple] = {}
    for row in rows:
        key = (row[1], row[2])
        held = latest.get(key)
        if held is None or row[3] >= held[2]:  # the later of equal times wins, as one by one
            latest[key] = (row[1], row[2], row[3], row[5], row[6])
    if not latest:
        return
    table = RoomSourceState._meta.db_table
    update = (f"ON CONFLICT (room_id, source) DO UPDATE SET observed_at = EXCLUDED.observed_at, "
              f"present = EXCLUDED.present, people_count = EXCLUDED.people_count "
              f"WHERE EXCLUDED.observed_at >= {table}.observed_at")  # a late, older signal must not roll it back
    states = sorted(latest.values())  # one order for every writer: two batches never wait on each other in a cycle
    if connection.vendor == "postgresql":
        bulk.insert_columns(table, _STATE_COLUMNS, [list(column) for column in zip(*states, strict=True)], update)
    else:
        _insert(table, _STATE_COLUMNS, states, (2,), tail=update)


def _append(table: str, columns: list[str], rows: list[tuple], datetimes: tuple[int, ...]) -> None:
    """Add ``rows`` to a table nothing conflicts in: a binary COPY on PostgreSQL (its rows are formatted in C, a
    fifth of what dumping column arrays cost the receiver per row), one executemany elsewhere."""
    if rows and connection.vendor == "postgresql":
        bulk.copy_rows(table, columns, rows)
    else:
        _insert(table, columns, rows, datetimes)


def _insert(table: str, columns: list[str], rows: list[tuple], datetimes: tuple[int, ...], tail: str = "") -> None:
    """Write ``rows`` in one statement: column arrays on PostgreSQL, one executemany elsewhere (with the
    datetimes at those positions in the database's own text form)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        bulk.insert_columns(table, columns, [list(column) for column in zip(*rows, strict=True)], tail)
        return
    adapt = bulk.sqlite_datetimes()
    for index in datetimes:
        rows = [(*row[:index], adapt(row[index]), *row[index + 1:]) for row in rows]
    bulk.insert_rows(table, columns, rows, tail=tail)

