"""Timestamps as plain numbers computed by the database, for the batch paths that read hundreds of thousands.

psycopg with Django's time-zone-aware loader spends ~8 µs in Python on every datetime it reads; an integer or a
float costs ~1 µs. ``EpochMicros`` is exact (integer microseconds, the resolution of both databases' timestamps),
so boundary comparisons (a signal exactly at the end of a grace window) come out as they would on datetimes;
``Epoch`` (float seconds) is for sums of minutes, where a rounding error of a microsecond does not matter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import BigIntegerField, FloatField, Func

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = 1_000_000
MINUTE = 60 * SECOND


def micros(moment: datetime) -> int:
    """An aware datetime as integer microseconds since 1970 (exact)."""
    return micros_of(moment - EPOCH)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def micros_of(delta: timedelta) -> int:
    """A duration in integer microseconds (exact)."""
    return delta // timedelta(microseconds=1)


class Epoch(Func):
    """A timestamp as float seconds since 1970."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):  # SQLite: text in UTC; julianday is exact to ~0.1 ms there
        return super().as_sql(compiler, connection, template="ROUND((julianday(%(expressions)s) - 2440587.5) "
                                                             "* 86400.0, 3)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)


class EpochMicros(Func):
    """A timestamp as integer microseconds since 1970, exactly."""

    output_field = BigIntegerField()

    def as_sql(self, compiler, connection, **extra):
        # SQLite keeps timestamps as ISO text (Django writes "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC) and its date
        # functions round to milliseconds: whole seconds from strftime on the text without its fraction, the
        # microseconds from the text itself.
        # (%%%% is one % once the template is filled in and Django has turned %% back into %.)
        template = ("(CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER) * 1000000 + "
                    "CASE WHEN substr(%(expressions)s, 20, 1) = '.' "
                    "THEN CAST(substr(%(expressions)s, 21, 6) AS INTEGER) ELSE 0 END)")
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        # EXTRACT gives numeric (exact) since PostgreSQL 14, the oldest Django 5.2 supports.
        return super().as_sql(compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::int8",
                              **extra)
