"""The request path's SQL: rooms with their location, stored status document and current fingerprints.

One query answers a poll (one room, or every room of a kiosk's scope). The fingerprints are strings the database
builds itself, so stored and fresh ones compare equal on SQLite and PostgreSQL alike:

* bookings: count and newest ``updated_at`` of the room's bookings that start from ``bookings_from`` on. Every
  booking write bumps ``updated_at`` (``auto_now``; the sync's bulk writes set it), so adding, moving, cancelling
  or deleting a booking changes it;
* occupancy: the number of sources, checksums of their values (presence and people), and how many reported after
  ``recent_after`` (the build time minus the shortest staleness window). A sensor repeating the same values does
  not change it (its fresher reading only matters once the old one would have gone stale, which is the document's
  ``valid_until``); a changed value does, and so does a reading from a source that was stale or silent when the
  document was built (``recent_after`` is early enough that every such source reported before it).

The newest ``observed_at`` is read live and put into the served document, so it is always current without a
rebuild (a process answering from memory, ``memory``, hears of every new reading and reads the room again). A room
panel's token that the process does not remember is read in the same query as its room (``token_and_room``), so a
poll that reads the database is one round trip either way: on a 2-core machine that round trip costs more than the
rest of the poll. On PostgreSQL the poll's statements are prepared once per connection (see
``_fetch``). The SQL is assembled from quoted names and ``%s`` placeholders only (hence the S608 waivers).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import NamedTuple

from django.db import connection

from occupancy.models import RoomSourceState
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Floor, Room

from .conf import kiosk_settings
from .models import KioskRoomStatus, KioskToken


class Entry(NamedTuple):
    """A room's stored document and its live newest reading: what the API needs to answer.

    Named tuples, here and in ``RoomRow``: a web process keeps thousands of them (``memory``), and tuples of plain
    values are the one kind of object the garbage collector stops scanning.
    """

    room_id: int
    etag: str
    body: str
    observed_at: datetime | None
    #: Epoch seconds: when the document may change by the clock alone (see ``KioskRoomStatus.valid_until_ts``).
    valid_until_ts: float


class RoomRow(NamedTuple):
    """One room as the request query sees it: where it is, and its document when that is still good."""

    room_id: int
    tenant_id: int
    floor_id: int
    building_id: int
    entry: Entry | None


@dataclass(frozen=True)
class Selection:
    """Rooms of one tenant: a kiosk token's scope, narrowed by optional building and floor filters."""

    tenant_id: int
    room_ids: frozenset[int]
    floor_ids: frozenset[int]
    building_ids: frozenset[int]
    building_id: int | None = None
    floor_id: int | None = None


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _booking_version_sql(room: str, since: str) -> str:
    table = _q(Booking._meta.db_table)
    return (f"(SELECT CAST(COUNT(*) AS TEXT) || ':' || COALESCE(CAST(MAX(b.{_q('updated_at')}) AS TEXT), '') "  # noqa: S608
            f"FROM {table} b WHERE b.{_q('room_id')} = {room} AND b.{_q('start')} >= {since})")


def _occupancy_version_sql(room: str, recent_after: str) -> str:
    table = _q(RoomSourceState._meta.db_table)
    # One number per source for its values: presence (0 unknown, 1 yes, 2 no) and people (-1 unknown).
    code = (f"(CASE WHEN o.{_q('present')} THEN 1 WHEN NOT o.{_q('present')} THEN 2 ELSE 0 END "
            f"+ 3 * (COALESCE(o.{_q('people_count')}, -1) + 2))")
    return (f"(SELECT CAST(COUNT(*) AS TEXT) || ':' || CAST(COALESCE(SUM({code}), 0) AS TEXT) "  # noqa: S608
            f"|| ':' || CAST(COALESCE(SUM({code} * {code}), 0) AS TEXT) "
            f"|| ':' || CAST(COALESCE(SUM(CASE WHEN o.{_q('observed_at')} > {recent_after} THEN 1 ELSE 0 END), 0) "
            f"AS TEXT) FROM {table} o WHERE o.{_q('room_id')} = {room})")


def _newest_reading_sql(room: str) -> str:
    table = _q(RoomSourceState._meta.db_table)
    return f"(SELECT MAX(o.{_q('observed_at')}) FROM {table} o WHERE o.{_q('room_id')} = {room})"  # noqa: S608


@cache
def _select_sql() -> str:
    room_id = f"r.{_q('id')}"
    columns = ", ".join([
        room_id, f"r.{_q('tenant_id')}", f"r.{_q('floor_id')}", f"f.{_q('building_id')}",
        *(f"s.{_q(name)}" for name in ("etag", "body", "valid_until_ts", "booking_version", "occupancy_version")),
        _booking_version_sql(room_id, f"s.{_q('bookings_from')}") + " AS bv",
        _occupancy_version_sql(room_id, f"s.{_q('recent_after')}") + " AS ov",
        _newest_reading_sql(room_id) + " AS newest",
    ])
    return (f"SELECT {columns} FROM {_q(Room._meta.db_table)} r "  # noqa: S608
            f"INNER JOIN {_q(Floor._meta.db_table)} f ON f.{_q('id')} = r.{_q('floor_id')} "
            f"LEFT OUTER JOIN {_q(KioskRoomStatus._meta.db_table)} s ON s.{_q('room_id')} = {room_id} ")


@cache
def _one_room_sql() -> str:
    return _select_sql() + f"WHERE r.{_q('id')} = %s"


@cache
def _versions_sql() -> str:
    room = f"r.{_q('id')}"
    return (f"SELECT {room}, {_booking_version_sql(room, '%s')}, {_occupancy_version_sql(room, '%s')} "  # noqa: S608
            f"FROM {_q(Room._meta.db_table)} r WHERE {room} IN ")


@cache
def _token_sql() -> str:
    """A token by prefix, with the rooms of its scope as one comma-separated text (one row whatever its scope)."""
    token, rooms = _q(KioskToken._meta.db_table), _q(KioskToken.rooms.through._meta.db_table)
    room = f"CAST(tr.{_q('room_id')} AS TEXT)"
    rooms_text = f"STRING_AGG({room}, ',')" if connection.vendor == "postgresql" else f"GROUP_CONCAT({room}, ',')"
    columns = ", ".join(f"t.{_q(name)}" for name in ("id", "tenant_id", "key_hash", "revoked_at", "last_used_at",
                                                      "floor_id", "building_id"))
    return (f"SELECT {columns}, (SELECT {rooms_text} FROM {rooms} tr "  # noqa: S608
            f"WHERE tr.{_q('kiosktoken_id')} = t.{_q('id')}) FROM {token} t ")


@cache
def _token_by_prefix_sql() -> str:
    return _token_sql() + f"WHERE t.{_q('prefix')} = %s"


@cache
def _token_and_room_sql() -> str:
    """The token and, beside it, the room exactly as ``_one_room_sql`` reads it (no token: no row at all)."""
    return (_token_sql().replace("SELECT ", "SELECT x.*, ", 1)
            + f"LEFT OUTER JOIN ({_one_room_sql()}) x ON 1 = 1 WHERE t.{_q('prefix')} = %s")


@lru_cache(maxsize=256)
def _driver_sql(sql: str) -> str:
    return sql.replace("%s", "?") if connection.vendor == "sqlite" else sql


#: psycopg prepares a statement when a cursor asks for it explicitly (``prepare=True``) and, past this many runs,
#: any statement of a server-binding cursor: only the kiosk's cursors bind on the server, and they ask explicitly.
_NEVER_AUTOMATICALLY = 2**31 - 1
_cursors = threading.local()


def _server_cursor(raw):
    """This thread's server-binding cursor on ``raw``, made once per connection: a new psycopg cursor per poll costs
    about a fifth of the poll (it copies the connection's adapters)."""
    cursor = getattr(_cursors, "cursor", None)
    if cursor is None or cursor.connection is not raw or cursor.closed:
        import psycopg

        if raw.prepare_threshold is None:
            raw.prepare_threshold = _NEVER_AUTOMATICALLY
        cursor = _cursors.cursor = psycopg.Cursor(raw)  # binds on the server: sends a statement once, then its name
    return cursor


def _fetch(sql: str, params: Sequence[object], *, prepare: bool = False) -> list[tuple]:
    """Run a request-path query on the driver's own cursor.

    At kiosk polling rates Django's cursor wrapper (thread check, placeholder rewriting of a long statement, debug
    hooks) costs as much as the query; these read-only statements need none of it. Errors are Django's (through
    ``wrap_database_errors``), and ``django_assert_num_queries`` does not see these queries.

    ``prepare``: on PostgreSQL, run the statement as a prepared statement of this connection, so that it is planned
    once per connection instead of on every poll (planning the status query costs more than running it). Django
    keeps psycopg's prepared statements off (``prepare_threshold`` None, for connection poolers): this sets a
    threshold no statement reaches, which changes nothing for Django's own cursors (they bind on the client and are
    never prepared), and asks for preparation explicitly. ``KIOSK_PREPARED_STATEMENTS=false`` turns it off. psycopg
    forgets its prepared statements after a ROLLBACK or DISCARD ALL it sees, and prepares them again.
    """
    connection.ensure_connection()
    raw = connection.connection
    # Django's exceptions, and a failed connection noted as such (``errors_occurred``): at the end of the request
    # Django then checks it and closes it if it is broken, as it does after a failure on its own cursors.
    with connection.wrap_database_errors:
        if prepare and connection.vendor == "postgresql" and kiosk_settings().prepared_statements:
            cursor = _server_cursor(raw)
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
        cursor = raw.cursor()
        try:
            cursor.execute(_driver_sql(sql), params)
            return cursor.fetchall()
        finally:
            cursor.close()


def _moment(value: datetime | str | None) -> datetime | None:
    """A timestamp as the driver returns it, made aware: on SQLite, text from an expression and a naive datetime
    from a column (both UTC); on PostgreSQL, already an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _placeholders(values: Sequence[object]) -> str:
    return "(" + ", ".join(["%s"] * len(values)) + ")"


def _row(values: Sequence, now_ts: float) -> RoomRow:
    (room_id, tenant_id, floor_id, building_id, etag, body, valid_until_ts, stored_bv, stored_ov, bv, ov,
     newest) = values
    good = etag is not None and valid_until_ts > now_ts and stored_bv == bv and stored_ov == ov
    observed_at = _moment(newest) if good else None
    return RoomRow(room_id, tenant_id, floor_id, building_id,
                   Entry(room_id, etag, body, observed_at, valid_until_ts) if good else None)


def room_row(room_id: int, now_ts: float) -> RoomRow | None:
    """A single room (None: no such room, in any tenant)."""
    rows = _fetch(_one_room_sql(), [room_id], prepare=True)
    return _row(rows[0], now_ts) if rows else None


def room_rows(selection: Selection, now_ts: float) -> list[RoomRow]:
    """Every room of ``selection``, by name."""
    where, params = [f"r.{_q('tenant_id')} = %s"], [selection.tenant_id]
    scope = []
    for column, ids in ((f"r.{_q('id')}", selection.room_ids), (f"r.{_q('floor_id')}", selection.floor_ids),
                        (f"f.{_q('building_id')}", selection.building_ids)):
        if ids:
            scope.append(f"{column} IN {_placeholders(ids)}")
            params += sorted(ids)
    if not scope:
        return []
    where.append("(" + " OR ".join(scope) + ")")
    if selection.building_id is not None:
        where.append(f"f.{_q('building_id')} = %s")
        params.append(selection.building_id)
    if selection.floor_id is not None:
        where.append(f"r.{_q('floor_id')} = %s")
        params.append(selection.floor_id)
    sql = _select_sql() + "WHERE " + " AND ".join(where) + f" ORDER BY r.{_q('name')}, r.{_q('id')}"
    return [_row(values, now_ts) for values in _fetch(sql, params)]


@cache
def _out_of_date_sql() -> str:
    status = f"s.{_q('room_id')}"
    return (f"SELECT r.{_q('id')}, r.{_q('tenant_id')}, r.{_q('floor_id')}, f.{_q('building_id')} "  # noqa: S608
            f"FROM {_q(Room._meta.db_table)} r "
            f"INNER JOIN {_q(Floor._meta.db_table)} f ON f.{_q('id')} = r.{_q('floor_id')} "
            f"LEFT OUTER JOIN {_q(KioskRoomStatus._meta.db_table)} s ON {status} = r.{_q('id')} "
            f"WHERE r.{_q('tenant_id')} = %s AND ({status} IS NULL OR s.{_q('valid_until_ts')} <= %s) "
            f"ORDER BY RANDOM() LIMIT %s")


def out_of_date(tenant_id: int, now_ts: float, limit: int) -> list[RoomRow]:
    """Up to ``limit`` rooms of a tenant whose stored document is missing or ran out of time, in random order
    (so that two processes sweeping at once mostly take different rooms); their ``entry`` is None."""
    return [RoomRow(room_id, tenant, floor, building, None)
            for room_id, tenant, floor, building in _fetch(_out_of_date_sql(), [tenant_id, now_ts, limit])]


def versions(room_ids: Sequence[int], bookings_from: datetime,
             recent_after: datetime) -> dict[int, tuple[str, str]]:
    """The current fingerprints of ``room_ids`` for a document built with these cutoffs."""
    adapt = connection.ops.adapt_datetimefield_value
    rows = _fetch(_versions_sql() + _placeholders(room_ids), [adapt(bookings_from), adapt(recent_after), *room_ids])
    return {room_id: (bv, ov) for room_id, bv, ov in rows}


def _token(values: Sequence) -> tuple | None:
    """(id, tenant, key hash, revoked at, last used at, floor, building, room ids) of a token row; None: no token."""
    if values[0] is None:
        return None
    token_id, tenant_id, key_hash, revoked_at, last_used_at, floor_id, building_id, rooms = values
    room_ids = [int(room) for room in rooms.split(",")] if rooms else []
    return token_id, tenant_id, key_hash, _moment(revoked_at), _moment(last_used_at), floor_id, building_id, room_ids


def token_row(prefix: str | None) -> tuple | None:
    """A kiosk token by its prefix (see ``_token``). Raw, like the status query: a token the process does not
    remember is common (a room panel polls about as often as the cache forgets), and the ORM costs more than that."""
    if prefix is None:
        return None
    rows = _fetch(_token_by_prefix_sql(), [prefix], prepare=True)
    return _token(rows[0]) if rows else None


def token_and_room(prefix: str | None, room_id: int, now_ts: float) -> tuple[tuple | None, RoomRow | None]:
    """``token_row`` and ``room_row`` in one query: what a room panel whose token is not remembered costs."""
    if prefix is None:
        return None, None
    rows = _fetch(_token_and_room_sql(), [room_id, prefix], prepare=True)
    if not rows:
        return None, None
    width = len(rows[0]) - 8
    room = rows[0][:width]
    return _token(rows[0][width:]), (_row(room, now_ts) if room[0] is not None else None)
