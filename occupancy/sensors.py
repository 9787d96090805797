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
from django.db import IntegrityError, transaction
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
    an entry seen again with nothing new only refreshes its ``last_seen_at`` once a minute per process."""
    now = now or timezone.now()
    clock = time.monotonic()
    merged: dict[tuple[int, str, str], tuple[Seen, set[str]]] = {}
    for entry in entries:
        if not entry.key:
            continue
        ident = (entry.tenant_id, entry.kind, entry.key[:200])
        known = merged.get(ident)
        if known is None:
            merged[ident] = (entry, {entry.signal_source} - {""})
        else:
            base, sources = known
            sources.add(entry.signal_source)
            sources.discard("")
            merged[ident] = (_richer(base, entry), sources)
    due = []
    signalled = {ident for ident, (_, sources) in merged.items() if sources}
    for ident, (entry, sources) in merged.items():
        previous = _written.get(ident)
        if previous is not None:
            written_at, before, before_sources = previous
            if (clock - written_at < SEEN_WRITE_EVERY_S and _richer(before, entry) == before
                    and sources <= before_sources):
                continue
            entry, sources = _richer(before, entry), sources | before_sources
        due.append((ident, entry, sources))
    if not due:
        return 0
    existing = {(row.tenant_id, row.kind, row.key): row for row in SensorSource.objects.filter(
        tenant_id__in={ident[0] for ident, _, _ in due}, key__in={ident[2] for ident, _, _ in due})}
    new, changed = [], []
    for ident, entry, sources in due:
        row = existing.get(ident)
        signal_at = now if ident in signalled else None
        if row is None:
            new.append(SensorSource(
                tenant_id=entry.tenant_id, kind=entry.kind, key=ident[2], name=entry.name[:200],
                hierarchy=entry.hierarchy[:600], location_types=entry.types[:200], parent_key=entry.parent_key[:200],
                time_zone=entry.time_zone[:64], signal_sources=",".join(sorted(sources))[:200],
                removed=bool(entry.removed), first_seen_at=now, last_seen_at=now, last_signal_at=signal_at))
            continue
        row.name = entry.name[:200] or row.name
        row.hierarchy = entry.hierarchy[:600] or row.hierarchy
        row.location_types = entry.types[:200] or row.location_types
        row.parent_key = entry.parent_key[:200] or row.parent_key
        row.time_zone = entry.time_zone[:64] or row.time_zone
        row.signal_sources = ",".join(sorted(set(filter(None, row.signal_sources.split(","))) | sources))[:200]
        if entry.removed is not None:
            row.removed = entry.removed
        row.last_seen_at = now
        row.last_signal_at = signal_at or row.last_signal_at
        changed.append(row)
    SensorSource.objects.bulk_create(new, ignore_conflicts=True)
    if changed:
        SensorSource.objects.bulk_update(changed, ["name", "hierarchy", "location_types", "parent_key", "time_zone",
                                                   "signal_sources", "removed", "last_seen_at", "last_signal_at"])
    for ident, entry, sources in due:
        _written[ident] = (clock, entry, frozenset(sources))
    return len(due)


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
