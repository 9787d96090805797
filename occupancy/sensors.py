"""Sensor sources (Spaces locations, Webex workspaces) and their mapping to rooms.

The catalogue (``SensorSource``) is what the Sensors page lists: every location a hierarchy change described and
every location or workspace a signal named, with its names and hierarchy. The mapping itself is the room's
``spaces_location_id`` / ``webex_workspace_id``, which is what the intake resolves. Signals for a source that is
not mapped yet are kept (``PendingSignal``, for ``OCCUPANCY_MAX_SIGNAL_AGE_S``); mapping the source moves them to
the room and recomputes that room's timeline and outcomes over the time they cover.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from spaces_calendar.core.models import Room, Tenant

from .models import OccupancySignal, PendingSignal, SensorKind, SensorSource

logger = logging.getLogger(__name__)

ROOM_FIELD = {SensorKind.SPACES_LOCATION: "spaces_location_id", SensorKind.WEBEX_WORKSPACE: "webex_workspace_id"}
KIND_LABEL = {SensorKind.SPACES_LOCATION: "Cisco Spaces location", SensorKind.WEBEX_WORKSPACE: "Webex workspace"}
#: A process writes a source's ``last_seen_at`` at most this often (the stream names the same rooms all day).
SEEN_WRITE_EVERY_S = 60.0


class MappingError(ValueError):
    """A mapping that cannot be made; the message is for the admin."""


@dataclass(frozen=True)
class Seen:
    """A source an event named: the catalogue entry to create or refresh."""

    tenant_id: int
    kind: str
    key: str
    name: str = ""
    hierarchy: str = ""
    types: str = ""
    parent_key: str = ""
    time_zone: str = ""
    signal_source: str = ""
    removed: bool | None = None


# --------------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------------

_written: dict[tuple[int, str, str], tuple[float, Seen, frozenset[str]]] = {}


def note_seen(entries: Iterable[Seen], now: datetime | None = None) -> int:
    """Create or refresh catalogue entries; returns how many rows were written. Runs in the caller's transaction.

    What an entry says that is new (a name, a hierarchy, a time zone, a kind of signal) is written at once;
    an entry seen again with nothing new only refreshes its ``last_seen_at`` once a minute per process.
    Whatever the number of entries this is at most three statements (the rows already there read, the new ones
    inserted, the others updated), so a Firehose batch naming thousands of sources pays for them once."""
    now = now or timezone.now()
    clock = time.monotonic()
    # A stream names the same sources again and again with nothing new: first find the sources of which some
    # entry is news (a field, a kind of signal, or a minute since the last write); the others cost one look each.
    recent = SEEN_WRITE_EVERY_S
    pairs, news = [], set()
    for entry in entries:
        if not entry.key:
            continue
        ident = (entry.tenant_id, entry.kind, entry.key[:200])
        pairs.append((ident, entry))
        if ident in news:
            continue
        previous = _written.get(ident)
        if (previous is None or clock - previous[0] >= recent or _adds(previous[1], entry)
                or (entry.signal_source and entry.signal_source not in previous[2])):
            news.add(ident)
    if not news:
        return 0
    # Those are merged in order, as before: the last non-empty value of each field wins.
    merged: dict[tuple[int, str, str], tuple[Seen, set[str]]] = {}
    for ident, entry in pairs:
        if ident not in news:
            continue
        known = merged.get(ident)
        if known is None:
            merged[ident] = (entry, {entry.signal_source} - {""})
            continue
        base, sources = known
        if entry.signal_source:
            sources.add(entry.signal_source)
        if _adds(base, entry):
            merged[ident] = (_richer(base, entry), sources)
    due = []
    for ident, (entry, sources) in merged.items():
        signal_at = now if sources else None  # it sent a signal in this batch
        previous = _written.get(ident)
        if previous is not None:
            written_at, before, before_sources = previous
            adds = _adds(before, entry)
            if clock - written_at < SEEN_WRITE_EVERY_S and not adds and sources <= before_sources:
                continue
            entry, sources = (_richer(before, entry) if adds else before), sources | before_sources
        due.append((ident, entry, sources, signal_at))
    if not due:
        return 0
    _write_seen(due, now)
    for ident, entry, sources, _ in due:
        _written[ident] = (clock, entry, frozenset(sources))
    return len(due)


_SOURCE_COLUMNS = ["tenant_id", "kind", "key", "name", "hierarchy", "location_types", "parent_key", "time_zone",
                   "signal_sources", "removed", "first_seen_at", "last_seen_at", "last_signal_at"]
#: An empty text says nothing new: the row keeps what it had (as does a ``removed`` of None).
_SOURCE_UPDATE = ("name = COALESCE(NULLIF({v}name, ''), {t}name), "
                  "hierarchy = COALESCE(NULLIF({v}hierarchy, ''), {t}hierarchy), "
                  "location_types = COALESCE(NULLIF({v}location_types, ''), {t}location_types), "
                  "parent_key = COALESCE(NULLIF({v}parent_key, ''), {t}parent_key), "
                  "time_zone = COALESCE(NULLIF({v}time_zone, ''), {t}time_zone), "
                  "signal_sources = {v}signal_sources, removed = COALESCE({v}removed, {t}removed), "
                  "last_seen_at = {v}last_seen_at, last_signal_at = COALESCE({v}last_signal_at, {t}last_signal_at)")


def _write_seen(due: list[tuple[tuple[int, str, str], Seen, set[str], datetime | None]], now: datetime) -> None:
    """note_seen's writes: the rows already there read (id and kinds of signal), the new ones inserted (one that
    another process inserted meanwhile is left as it is), the others updated, each in one statement."""
    from . import bulk

    table = SensorSource._meta.db_table
    postgres = connection.vendor == "postgresql"
    tenants = sorted({ident[0] for ident, *_ in due})
    keys = sorted({ident[2] for ident, *_ in due})
    existing: dict[tuple[int, str, str], tuple[int, str]] = {}
    if postgres:
        with bulk.binding_cursor() as cursor:
            cursor.execute(f"SELECT id, tenant_id, kind, key, signal_sources FROM {table} "  # noqa: S608
                           "WHERE tenant_id = ANY(%b) AND key = ANY(%b::text[])", [tenants, keys])
            rows = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            rows = []
            for start in range(0, len(keys), 900):
                chunk = keys[start:start + 900]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT id, tenant_id, kind, key, signal_sources FROM {table} "  # noqa: S608
                               f"WHERE key IN ({marks}) AND tenant_id IN ({', '.join(['%s'] * len(tenants))})",
                               [*chunk, *tenants])
                rows += cursor.fetchall()
    for pk, tenant_id, kind, key, signal_sources in rows:
        existing[(tenant_id, kind, key)] = (pk, signal_sources)
    new, changed = [], []
    for ident, entry, sources, signal_at in due:
        row = existing.get(ident)
        if row is None:
            new.append((entry.tenant_id, entry.kind, ident[2], entry.name[:200], entry.hierarchy[:600],
                        entry.types[:200], entry.parent_key[:200], entry.time_zone[:64],
                        ",".join(sorted(sources))[:200], bool(entry.removed), now, now, signal_at))
            continue
        pk, had = row
        changed.append((pk, entry.name[:200], entry.hierarchy[:600], entry.types[:200], entry.parent_key[:200],
                        entry.time_zone[:64], ",".join(sorted(set(filter(None, had.split(","))) | sources))[:200],
                        entry.removed, now, signal_at))
    columns = ["id", "name", "hierarchy", "location_types", "parent_key", "time_zone", "signal_sources", "removed",
               "last_seen_at", "last_signal_at"]
    if postgres:
        bulk.insert_columns(table, _SOURCE_COLUMNS, [list(column) for column in zip(*new, strict=True)] if new
                            else [], "ON CONFLICT DO NOTHING")
        if changed:
            bulk.update_columns(table, "id", columns, [list(column) for column in zip(*changed, strict=True)],
                                _SOURCE_UPDATE.format(v="v.", t=f"{table}."))
        return
    stamp = bulk.sqlite_datetimes()
    bulk.insert_rows(table, _SOURCE_COLUMNS, [(*row[:10], stamp(now), stamp(now), stamp(row[12])) for row in new],
                     verb="INSERT OR IGNORE")
    if changed:
        values = ", ".join(f"%s AS {name}" for name in columns)  # the same assignments, reading one row of values
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {_SOURCE_UPDATE.format(v='v.', t=f'{table}.')} "  # noqa: S608
                               f"FROM (SELECT {values}) AS v WHERE {table}.id = v.id",
                               [(row[0], *row[1:8], stamp(row[8]), stamp(row[9])) for row in changed])


def _adds(base: Seen, other: Seen) -> bool:
    """Whether ``other`` says anything ``base`` does not (``_richer(base, other)`` would differ from ``base``)."""
    return other is not base and (
        (other.name and other.name != base.name) or (other.hierarchy and other.hierarchy != base.hierarchy)
        or (other.types and other.types != base.types) or (other.parent_key and other.parent_key != base.parent_key)
        or (other.time_zone and other.time_zone != base.time_zone)
        or (other.removed is not None and other.removed != base.removed))


def _richer(base: Seen, other: Seen) -> Seen:
    """``base`` with what ``other`` adds."""
    return Seen(base.tenant_id, base.kind, base.key, other.name or base.name, other.hierarchy or base.hierarchy,
                other.types or base.types, other.parent_key or base.parent_key, other.time_zone or base.time_zone,
                base.signal_source, other.removed if other.removed is not None else base.removed)


def forget_written() -> None:
    """Drop the per-process memory of what was written (tests, and after a rollback)."""
    _written.clear()


# --------------------------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------------------------


@dataclass
class MappingResult:
    room: Room
    adopted: int = 0


def map_source(tenant: Tenant, kind: str, key: str, room: Room, now: datetime | None = None) -> MappingResult:
    """Map a location or workspace to one of the tenant's rooms and apply the history it already sent.

    Refused with a ``MappingError`` (a message for the admin) when the room is another tenant's, when the room
    already has another source of this kind, or when the source is mapped to another room."""
    if kind not in ROOM_FIELD:
        raise MappingError(f"{kind!r} is not a kind of sensor source.")
    key = key.strip()
    if not key or len(key) > (100 if kind == SensorKind.SPACES_LOCATION else 200):
        raise MappingError("That source id is empty or too long.")
    if room.tenant_id != tenant.pk:
        raise MappingError("That room is not one of this workplace's.")
    field = ROOM_FIELD[kind]
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room.pk)
        current = getattr(room, field)
        if current == key:
            return MappingResult(room)
        if current:
            raise MappingError(f"{room.name} is already mapped to {KIND_LABEL[kind]} {current}: unmap it first "
                               f"(a room takes one {KIND_LABEL[kind]}).")
        other = Room.objects.filter(tenant=tenant, **{field: key}).exclude(pk=room.pk).first()
        if other is not None:
            raise MappingError(f"{KIND_LABEL[kind]} {key} is already mapped to {other.name}: unmap it there first.")
        setattr(room, field, key)
        try:
            with transaction.atomic():
                Room.objects.filter(pk=room.pk).update(**{field: key})
        except IntegrityError:
            raise MappingError(f"{KIND_LABEL[kind]} {key} is already mapped to another room.") from None
        adopted, earliest = adopt_pending(tenant.pk, kind, key, room.pk, now)
    if adopted:
        _recompute(room.pk, earliest, now or timezone.now())
    logger.info("sensor %s %s mapped to room %s (%d earlier signals applied)", kind, key, room.pk, adopted)
    return MappingResult(room, adopted)


def unmap_source(tenant: Tenant, kind: str, room: Room) -> str:
    """Remove the room's source of this kind; returns the key it had. Its stored signals stay with the room."""
    if kind not in ROOM_FIELD or room.tenant_id != tenant.pk:
        raise MappingError("That room is not one of this workplace's.")
    field = ROOM_FIELD[kind]
    key = getattr(room, field)
    Room.objects.filter(pk=room.pk).update(**{field: ""})
    setattr(room, field, "")
    return key


def adopt_pending(tenant_id: int, kind: str, key: str, room_id: int,
                  now: datetime | None = None) -> tuple[int, datetime | None]:
    """Move the pending signals of one source to its room (within the caller's transaction); returns how many
    and the earliest observation among them."""
    from .intake import advance_states

    now = now or timezone.now()
    horizon = now - timedelta(seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    pending = PendingSignal.objects.filter(tenant_id=tenant_id, kind=kind, key=key)
    rows = [OccupancySignal(tenant_id=tenant_id, room_id=room_id, source=item.source, observed_at=item.observed_at,
                            window_end=item.window_end, present=item.present, people_count=item.people_count,
                            peak_count=item.peak_count, source_event_id=item.source_event_id)
            for item in pending.filter(observed_at__gte=horizon).order_by("observed_at")]
    pending.delete()
    OccupancySignal.objects.bulk_create(rows, batch_size=1000)
    advance_states(rows)
    return len(rows), (rows[0].observed_at if rows else None)


def _recompute(room_id: int, earliest: datetime | None, now: datetime) -> None:
    from .pipeline import recompute_room

    if earliest is not None:
        recompute_room(room_id, earliest, now)


def prune_pending(now: datetime | None = None) -> int:
    """Pending signals older than the maximum signal age can no longer be applied."""
    horizon = (now or timezone.now()) - timedelta(seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    return PendingSignal.objects.filter(observed_at__lt=horizon).delete()[0]
