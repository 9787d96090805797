"""Exactly-once effect for the Firehose: applying a batch of events and advancing the checkpoint is one
transaction.

A crash before the commit loses the batch's effect *and* its checkpoint, so the resumed stream (from
``high water - overlap``) brings the events again and they are applied once. A crash after the commit leaves their
``recordUid`` in the de-dup store, so the replayed copies are dropped. Events are never applied one by one: a
batch is one transaction, which is what lets the receiver keep up with the stream.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from occupancy import outages, sensors
from occupancy.intake import RoomKey, Signal, record
from spaces_calendar.core.models import Room

from .events import Event, LocationChange, SourceSeen, from_ms, read
from .models import AppActivationEvent, Checkpoint, ReceiverStatus, RejectedLine, SeenRecord

logger = logging.getLogger(__name__)

#: Maps a ``spacesTenantId`` to our tenant id, or None when it is not one of ours.
TenantResolver = Callable[[str], int | None]


@dataclass(frozen=True)
class StreamKey:
    """Which stream (whose credentials) and which partitions a receiver consumes."""

    stream: str
    min_partition: int = 1
    max_partition: int = 12

    @property
    def lookup(self) -> dict[str, object]:
        return {"stream": self.stream, "min_partition": self.min_partition, "max_partition": self.max_partition}


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    signals: int = 0
    skipped: Counter = field(default_factory=Counter)
    high_water_ms: int = 0


def resume_from_ms(key: StreamKey, now: datetime | None = None) -> int:
    """Where to (re)connect: a little before the high water, because the stream is not strictly ordered; on the
    very first start, ``FIREHOSE_INITIAL_LOOKBACK_S`` before now."""
    high_water = Checkpoint.objects.filter(**key.lookup).values_list("high_water_ms", flat=True).first()
    if not high_water:
        started = int((now or timezone.now()).timestamp() * 1000)
        return max(0, started - int(settings.FIREHOSE_INITIAL_LOOKBACK_S * 1000))
    return max(0, high_water - int(settings.FIREHOSE_RESUME_OVERLAP_S * 1000))


def apply_batch(key: StreamKey, events: list[Event], resolve_tenant: TenantResolver) -> BatchOutcome:
    """Apply the events not applied before and move the checkpoint, atomically."""
    outcome = BatchOutcome()
    if not events:
        return outcome
    with transaction.atomic():
        checkpoint, _ = Checkpoint.objects.select_for_update().get_or_create(**key.lookup)
        fresh = _fresh(events)
        outcome.duplicates = len(events) - len(fresh)
        signals: list[Signal] = []
        seen: list[sensors.Seen] = []
        tenants: dict[str, int | None] = {}  # a resolver may query the database: once per Spaces tenant and batch

        def resolve(spaces_tenant_id: str) -> int | None:
            if spaces_tenant_id not in tenants:
                tenants[spaces_tenant_id] = resolve_tenant(spaces_tenant_id)
            return tenants[spaces_tenant_id]

        for event in fresh:
            _read_into(event, resolve, signals, outcome.skipped, seen)
        if seen:
            sensors.note_seen(seen)
        if signals:
            result = record(signals)
            outcome.signals = result.accepted
            outcome.skipped.update(result.refused)
            if result.pending:  # kept for when the location or workspace is mapped (counted to be seen)
                outcome.skipped["pending_unmapped"] += result.pending
        SeenRecord.objects.bulk_create(
            [SeenRecord(record_uid=event.uid[:200], record_timestamp_ms=event.timestamp_ms) for event in fresh],
            batch_size=500,
        )
        outcome.applied = len(fresh)
        outcome.high_water_ms = max(checkpoint.high_water_ms, *(event.timestamp_ms for event in events))
        checkpoint.high_water_ms = outcome.high_water_ms
        checkpoint.applied += outcome.applied
        checkpoint.duplicates += outcome.duplicates
        merged = Counter(checkpoint.skipped)
        merged.update(outcome.skipped)
        checkpoint.skipped = dict(merged)
        checkpoint.save()
        ReceiverStatus.objects.filter(**key.lookup).update(last_event_at=timezone.now())
    return outcome


def _fresh(events: list[Event]) -> list[Event]:
    """Events of the batch whose recordUid was never applied (and each uid once within the batch)."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.uid[:200], event)
    seen = set(SeenRecord.objects.filter(record_uid__in=list(unique)).values_list("record_uid", flat=True))
    return [event for uid, event in unique.items() if uid not in seen]


def _read_into(event: Event, resolve_tenant: TenantResolver, signals: list[Signal], skipped: Counter,
               seen: list[sensors.Seen] | None = None) -> None:
    reading = read(event)
    if reading.skipped:
        skipped[reading.skipped] += 1
        if not reading.seen:
            return
    if reading.activation is not None:
        AppActivationEvent.objects.create(spaces_tenant_id=event.spaces_tenant_id, record_uid=event.uid[:200],
                                          payload=reading.activation)
        logger.info("firehose: appActivation for Spaces tenant %s", event.spaces_tenant_id)
        return
    tenant_id = resolve_tenant(event.spaces_tenant_id)
    if tenant_id is None:
        skipped["unknown_tenant"] += 1
        return
    if seen is not None:
        kinds: dict[tuple[str, str], list[str]] = {}
        for draft in reading.signals:
            kinds.setdefault((draft.key_kind, draft.key), []).append(draft.source)
        removed = {change.location_id: change.change == "REMOVE" for change in reading.location_changes}
        seen += [_seen(tenant_id, item, source, removed.get(item.key))
                 for item in reading.seen for source in kinds.get((item.kind, item.key), [""])]
    if reading.location_changes:
        apply_location_changes(tenant_id, reading.location_changes)
    for draft in reading.signals:
        signals.append(Signal(
            room=RoomKey(tenant_id, draft.key_kind, draft.key), source=draft.source, observed_at=draft.observed_at,
            present=draft.present, people_count=draft.people_count, peak_count=draft.peak_count,
            window_end=draft.window_end, source_event_id=event.uid,
        ))


def _seen(tenant_id: int, item: SourceSeen, signal_source: str, removed: bool | None) -> sensors.Seen:
    return sensors.Seen(tenant_id, item.kind, item.key, item.name, " / ".join(item.hierarchy), ",".join(item.types),
                        item.parent_key, item.time_zone, signal_source, removed)


def apply_location_changes(tenant_id: int, changes: list[LocationChange]) -> None:
    """Keep room names, time zones and the Spaces location → room mapping current.

    An updated (or moved) location renames its room and sets its time zone (``locationDetails.timeZone``); a new
    room location (a ZONE) is mapped to the tenant's only room of the same name that has no location yet, with the
    history it already sent; a removed location unmaps its room (its signals would otherwise go nowhere silently).
    """
    for change in changes:
        rooms = Room.objects.filter(tenant_id=tenant_id)
        mapped = rooms.filter(spaces_location_id=change.location_id).first()
        if change.change == "REMOVE":
            if mapped is not None:
                Room.objects.filter(pk=mapped.pk).update(spaces_location_id="")
                logger.info("firehose: Spaces location %s deleted; room %s unmapped", change.location_id, mapped.pk)
            continue
        if mapped is None and change.is_room and change.name:
            namesakes = list(rooms.filter(spaces_location_id="", name__iexact=change.name)[:2])
            if len(namesakes) == 1:
                mapped = namesakes[0]
                sensors.adopt_pending(tenant_id, "spaces_location", change.location_id, mapped.pk)
        if mapped is None:
            continue
        updates: dict[str, str] = {"spaces_location_id": change.location_id}
        if change.name:
            updates["name"] = change.name[:200]
        if change.time_zone and _valid_zone(change.time_zone):
            updates["time_zone"] = change.time_zone
        Room.objects.filter(pk=mapped.pk).update(**updates)


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def set_aside(key: StreamKey, reason: str, line: bytes | str) -> None:
    """Keep a bad line (truncated) for diagnosis; only the newest ``FIREHOSE_REJECTED_KEEP`` stay."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes | bytearray) else line
    RejectedLine.objects.create(stream=key.stream, reason=reason[:300], excerpt=text[:2000])
    keep = settings.FIREHOSE_REJECTED_KEEP
    cutoff = RejectedLine.objects.order_by("-pk").values_list("pk", flat=True)[keep:keep + 1].first()
    if cutoff is not None:
        RejectedLine.objects.filter(pk__lte=cutoff).delete()


def prune_seen() -> int:
    """Forget recordUids that can no longer come back: older than every checkpoint's high water minus the
    retention (which must exceed the resume overlap)."""
    lowest = Checkpoint.objects.aggregate(low=Min("high_water_ms"))["low"]
    if not lowest:
        return 0
    horizon = lowest - int(settings.FIREHOSE_DEDUP_RETENTION_S * 1000)
    deleted, _ = SeenRecord.objects.filter(record_timestamp_ms__lt=horizon).delete()
    return deleted


def mark_connection(key: StreamKey, *, connected: bool, error: str = "", now: datetime | None = None) -> None:
    now = now or timezone.now()
    status, _ = ReceiverStatus.objects.get_or_create(**key.lookup)
    if connected and not status.connected:
        status.connected_since = now
    if not connected and status.connected:
        status.reconnects += 1
    status.connected = connected
    status.last_error = error[:500]
    status.save()


def stream_lost(key: StreamKey, tenant_ids: tuple[int, ...], since: datetime, reason: str = "") -> None:
    """The stream broke (or fell silent) and nothing has been heard since ``since``: open an outage for its
    tenants, to be closed when it is back (``stream_back``)."""
    for tenant_id in tenant_ids:
        outages.open_outage(tenant_id, _stream_name(key), since, reason)


def stream_back(key: StreamKey, tenant_ids: tuple[int, ...], requested_from_ms: int,
                now: datetime | None = None) -> None:
    """The stream is delivering again, from ``requested_from_ms`` as far as the Firehose replays
    (``FIREHOSE_REPLAY_S``): what lies before that is lost, the rest comes back."""
    now = now or timezone.now()
    replay_floor = now - timedelta(seconds=settings.FIREHOSE_REPLAY_S)
    recovered_from = max(replay_floor, from_ms(requested_from_ms)) if requested_from_ms else now
    for tenant_id in tenant_ids:
        for low, high in outages.close_outage(tenant_id, _stream_name(key), recovered_from, now):
            logger.warning("firehose: %s lost %s to %s (longer than the replay): unknown there",
                           _stream_name(key), low.isoformat(), high.isoformat())


def _stream_name(key: StreamKey) -> str:
    return f"firehose:{key.stream}:{key.min_partition}-{key.max_partition}"


def last_heard(key: StreamKey) -> datetime | None:
    """When the stream last delivered anything (an event or a keep-alive)."""
    return ReceiverStatus.objects.filter(**key.lookup).values_list("last_line_at", flat=True).first()


def touch(key: StreamKey, now: datetime | None = None) -> None:
    """A line (event or keep-alive) arrived: the stream is alive."""
    ReceiverStatus.objects.filter(**key.lookup).update(last_line_at=now or timezone.now())
