"""The one door every occupancy source comes through (Firehose today, Webex webhooks later).

A source names its room by a key it knows (our room id, a Spaces location id, a Webex workspace id) and always
within one tenant: a signal timestamped far in the past or future is refused and counted, and a signal is never
attached to another tenant's room. A signal for a Spaces location or Webex workspace the tenant has not mapped to a
room (yet) is kept as a ``PendingSignal``, so that mapping it later applies its history (``sensors.map_source``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from spaces_calendar.core.models import Room

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


@dataclass
class IntakeResult:
    accepted: int = 0
    #: Kept for a source not mapped to a room yet.
    pending: int = 0
    refused: Counter = field(default_factory=Counter)


_LOOKUP_FIELD = {"room": "pk", "spaces_location": "spaces_location_id", "webex_workspace": "webex_workspace_id"}


def resolve_rooms(keys: set[RoomKey]) -> dict[RoomKey, int]:
    """Our room id for each key that names a room of that very tenant."""
    found: dict[RoomKey, int] = {}
    by_kind: dict[tuple[int, str], set[str]] = {}
    for key in keys:
        if key.kind in _LOOKUP_FIELD and key.value:
            by_kind.setdefault((key.tenant_id, key.kind), set()).add(key.value)
    for (tenant_id, kind), values in by_kind.items():
        lookup = _LOOKUP_FIELD[kind]
        if kind == "room":
            values = {value for value in values if value.isdigit()}
        rows = Room.objects.filter(tenant_id=tenant_id, **{f"{lookup}__in": values}).values_list("pk", lookup)
        for pk, value in rows:
            found[RoomKey(tenant_id, kind, str(value))] = pk
    return found


def record(signals: list[Signal], *, now: datetime | None = None, history: bool = False) -> IntakeResult:
    """Store the acceptable signals and move each room's latest state forward (never backward).

    Runs inside the caller's transaction when there is one, so a source can make intake and its own
    bookkeeping (the Firehose checkpoint) one atomic step. ``history`` lifts the age limit for a trusted backfill
    (an import, the sandbox's demo weeks); the future limit always holds.
    """
    now = now or timezone.now()
    result = IntakeResult()
    rooms = resolve_rooms({signal.room for signal in signals})
    past = datetime.min.replace(tzinfo=now.tzinfo) if history else now - timedelta(
        seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    future = now + timedelta(seconds=settings.OCCUPANCY_MAX_CLOCK_SKEW_S)
    rows, pending = [], []
    for signal in signals:
        room_id = rooms.get(signal.room)
        if not past <= signal.observed_at <= future:
            result.refused["out_of_range_time"] += 1
        elif room_id is None:
            if signal.room.kind == "room" or not signal.room.value:
                result.refused["unknown_room"] += 1
                continue
            pending.append(PendingSignal(
                tenant_id=signal.room.tenant_id, kind=signal.room.kind, key=signal.room.value[:200],
                source=signal.source, observed_at=signal.observed_at, window_end=signal.window_end,
                present=signal.present, people_count=signal.people_count, peak_count=signal.peak_count,
                source_event_id=signal.source_event_id[:200]))
        else:
            rows.append(OccupancySignal(
                tenant_id=signal.room.tenant_id, room_id=room_id, source=signal.source,
                observed_at=signal.observed_at, window_end=signal.window_end, present=signal.present,
                people_count=signal.people_count, peak_count=signal.peak_count,
                source_event_id=signal.source_event_id[:200],
            ))
    if result.refused:
        logger.info("occupancy intake refused %s", dict(result.refused))
    with transaction.atomic():
        OccupancySignal.objects.bulk_create(rows, batch_size=500)
        PendingSignal.objects.bulk_create(pending, batch_size=500)
        advance_states(rows)
    result.accepted = len(rows)
    result.pending = len(pending)
    return result


def advance_states(rows: list[OccupancySignal]) -> None:
    """Move each room's latest state per source forward to the newest of ``rows`` (never backward)."""
    latest: dict[tuple[int, str], OccupancySignal] = {}
    for row in rows:
        key = (row.room_id, row.source)
        if key not in latest or row.observed_at >= latest[key].observed_at:
            latest[key] = row
    if not latest:
        return
    current = {(state.room_id, state.source): state for state in RoomSourceState.objects.filter(
        room_id__in={key[0] for key in latest}, source__in={key[1] for key in latest})}
    new, changed = [], []
    for key, row in latest.items():
        state = current.get(key)
        if state is None:
            new.append(RoomSourceState(room_id=row.room_id, source=row.source, observed_at=row.observed_at,
                                       present=row.present, people_count=row.people_count))
        elif row.observed_at >= state.observed_at:  # a late, older signal must not roll the state back
            state.observed_at, state.present, state.people_count = row.observed_at, row.present, row.people_count
            changed.append(state)
    RoomSourceState.objects.bulk_create(new)
    RoomSourceState.objects.bulk_update(changed, ["observed_at", "present", "people_count"])
