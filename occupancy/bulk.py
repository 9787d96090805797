"""Writing many rows on PostgreSQL with COPY, or with one INSERT of column arrays.

Django's multi-row upsert spends most of its time building and binding parameters (it capped outcomes at about
3,000 rows/s); COPY does not. ``copy_upsert`` goes through a scratch table and one INSERT ... ON CONFLICT, safe
beside concurrent writers of the same keys; ``copy_replace`` deletes the rows it replaces and copies the new ones
straight into the table, which saves that INSERT but needs the caller to keep other writers of those keys out.

``insert_columns`` sends each column as one array in PostgreSQL's binary format (``INSERT ... SELECT * FROM
unnest(...)``), with an optional ``ON CONFLICT`` / ``RETURNING`` tail: for a few thousand rows of plain columns it
costs about half of a binary COPY in Python (psycopg dumps a list of numbers, strings or timestamps in C, where
COPY formats row by row), needs no scratch table, and can upsert or skip conflicts in the same statement. SQLite
has no arrays: there ``insert_rows`` is one ``executemany``, which its driver runs in C.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import psycopg
from django.db import connection, models
from psycopg.types.json import set_json_dumps


def copy_upsert(model: type[models.Model], columns: list[str], rows: list[tuple], conflict: list[str]) -> None:
    """Upsert ``rows`` (tuples in ``columns`` order) on ``conflict``."""
    table = model._meta.db_table
    scratch = f"{table}_load"
    names = _names(columns)
    updates = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in columns if name not in conflict)
    keys = ", ".join(f'"{name}"' for name in conflict)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor: Django's wrapper has no COPY
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {scratch} AS SELECT {names} FROM {table} "  # noqa: S608
                       "WITH NO DATA")
        cursor.execute(f"TRUNCATE {scratch}")
        _copy(cursor, scratch, columns, rows)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} "  # noqa: S608
                       f"ON CONFLICT ({keys}) DO UPDATE SET {updates}")


def copy_replace(model: type[models.Model], columns: list[str], rows: list[tuple], key: str) -> int:
    """Delete the rows whose ``key`` (the first column) is among ``rows``' and COPY ``rows`` in; returns how many
    were deleted. Two writers of the same keys at once would collide on a unique key: serialise them first."""
    assert columns[0] == key
    table = model._meta.db_table
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute(f'DELETE FROM {table} WHERE "{key}" = ANY(%s)', [[row[0] for row in rows]])  # noqa: S608
        deleted = cursor.rowcount
        _copy(cursor, table, columns, rows)
    return deleted


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    """COPY in PostgreSQL's binary format: psycopg's C dumpers write timestamps and numbers as they are held,
    which took a third less time than formatting text. dict and list values go to jsonb columns through orjson."""
    set_json_dumps(orjson.dumps, context=cursor)
    types = _column_types(cursor, table, columns)  # before the COPY: the connection is busy until it ends
    with cursor.copy(f"COPY {table} ({_names(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_rows(table: str, columns: list[str], rows: list[tuple]) -> None:
    """PostgreSQL: COPY ``rows`` (tuples in ``columns`` order) into ``table``, in the caller's transaction. For
    rows that cannot conflict: psycopg formats each row in C, where column arrays are dumped value by value."""
    with connection.cursor() as wrapper:
        _copy(wrapper.cursor, table, columns, rows)


_TYPE_OIDS: dict[str, dict[str, int]] = {}


def _column_types(cursor, table: str, columns: list[str]) -> list[int]:
    """The type oids of ``columns`` (binary COPY needs them; a scratch table has its source table's), read once
    per table and process (a scratch table's each time: it is made anew)."""
    types = _TYPE_OIDS.get(table)
    if types is None:
        cursor.execute("SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass AND "
                       "attnum > 0 AND NOT attisdropped", [table])
        types = dict(cursor.fetchall())
        if not table.endswith("_load"):
            _TYPE_OIDS[table] = types
    return [types[name] for name in columns]


def insert_columns(table: str, columns: list[str], values: list[list], tail: str = "",
                   params: list | None = None) -> list[tuple]:
    """PostgreSQL: ``INSERT INTO table (columns) SELECT * FROM unnest(<one binary array per column>) <tail>``;
    ``values`` holds one list per column, all of one length. ``tail`` (``ON CONFLICT ...``, ``RETURNING ...``)
    may use ``params`` after the arrays. Returns the rows a ``RETURNING`` tail gives (else [])."""
    if not values or not values[0]:
        return []
    with binding_cursor() as cursor:
        types = _type_names(cursor, table)
        arrays = ", ".join(f"%b::{types[name]}[]" for name in columns)
        cursor.execute(f"INSERT INTO {table} ({_names(columns)}) SELECT * FROM unnest({arrays}) {tail}",  # noqa: S608
                       [*values, *(params or [])])
        return cursor.fetchall() if cursor.description else []


def binding_cursor() -> psycopg.Cursor:
    """PostgreSQL: a cursor of Django's connection (so in its transaction) that sends parameters apart from the
    query, binary ones (``%b``) in binary. Django's own cursors bind on the client: they quote every value into
    the SQL text in Python, which for a list of thousands of values costs more than the statement."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def insert_rows(table: str, columns: list[str], rows: list[tuple], verb: str = "INSERT", tail: str = "") -> int:
    """SQLite (or any database without arrays): one ``executemany`` of ``verb INTO table (columns) VALUES (...)
    tail``; returns the rows it changed. Values must already be in the database's own form (datetimes adapted)."""
    if not rows:
        return 0
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"{verb} INTO {table} ({_names(columns)}) VALUES ({marks}) {tail}", rows)  # noqa: S608
        return cursor.rowcount


def update_columns(table: str, key: str, columns: list[str], values: list[list], assignments: str,
                   types: dict[str, str] | None = None) -> int:
    """PostgreSQL: ``UPDATE table SET <assignments> FROM unnest(<one binary array per column>) AS v(columns)
    WHERE table.key = v.key``; ``columns`` starts with ``key``, and ``assignments`` reads ``v.<column>`` (and the
    row's own columns, qualified by ``table``). A column that is not the table's needs its type in ``types``.
    Returns the rows updated."""
    if not values or not values[0]:
        return 0
    with binding_cursor() as cursor:
        known = {**_type_names(cursor, table), **(types or {})}
        arrays = ", ".join(f"%b::{known[name]}[]" for name in columns)
        cursor.execute(f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({_names(columns)}) "  # noqa: S608
                       f'WHERE {table}."{key}" = v."{key}"', values)
        return cursor.rowcount


def sqlite_datetimes() -> Callable[[datetime | None], str | None]:
    """How Django writes a datetime on this SQLite connection (naive text in the connection's zone, "YYYY-MM-DD
    HH:MM:SS[.ffffff]"), for rows written without the ORM: a function, looked up once for many values."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.timezone_name != "UTC":
        return adapt

    def utc(value: datetime | None) -> str | None:
        if value is None:
            return None
        return str(value.replace(tzinfo=None)) if value.tzinfo is UTC else adapt(value)

    return utc


_TYPE_NAMES: dict[str, dict[str, str]] = {}


def _type_names(cursor, table: str) -> dict[str, str]:
    """Each column's SQL type (``bigint``, ``character varying(200)`` ...), read once per table and process."""
    names = _TYPE_NAMES.get(table)
    if names is None:
        cursor.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                       "%s::regclass AND attnum > 0 AND NOT attisdropped", [table])
        names = _TYPE_NAMES[table] = dict(cursor.fetchall())
    return names
