"""Exactly-once effect for the Firehose: applying a batch of events and advancing the checkpoint is one
transaction.

A crash before the commit loses the batch's effect *and* its checkpoint, so the resumed stream (from
``high water - overlap``) brings the events again and they are applied once. A crash after the commit leaves their
``recordUid`` in the de-dup store, so the replayed copies are dropped. Events are never applied one by one: a
batch is one transaction, which is what lets the receiver keep up with the stream.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from occupancy import bulk, outages, sensors
from occupancy.intake import SignalTuple, record_many
from spaces_calendar.core.models import Room

from .events import Event, LocationChange, SourceSeen, from_ms, read
from .models import AppActivationEvent, Checkpoint, ReceiverStatus, RejectedLine, SeenRecord

logger = logging.getLogger(__name__)

#: Maps a ``spacesTenantId`` to our tenant id, or None when it is not one of ours.
TenantResolver = Callable[[str], int | None]
#: SQLite's limit on bound variables is 32,766 in current builds, 999 in old ones: stay under the old one.
_SQLITE_CHUNK = 900


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


@dataclass
class PreparedBatch:
    """A batch read ahead of its transaction (no database work but the tenant lookups), so that the receiver reads
    the next batch while the database writes this one: what :func:`apply_prepared` writes when none of its
    events was applied before (else only the new ones' part of it).

    Each event is read as it is added (:meth:`add`) and only its reading is kept, not the parsed JSON: holding a
    batch of parsed payloads until the batch was full tripled the cost of parsing (every new dict in memory not
    yet in the cache) and read each payload again once it had left the cache."""

    resolve: TenantResolver
    #: Every event's recordUid, in stream order (in-batch duplicates included).
    uids: list[str] = field(default_factory=list)
    high_water_ms: int = 0
    #: Each record once (by :func:`record_key`), in stream order, with where its reading ends in ``signals``,
    #: ``seen`` and ``actions`` and why parts of it were skipped.
    marks: dict[tuple[int, int], tuple[int, int, int, tuple[str, ...]]] = field(default_factory=dict)
    signals: list[SignalTuple] = field(default_factory=list)
    seen: list[sensors.Seen] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    #: Writes an event asks for besides its signals (location changes, app activations), in stream order.
    actions: list[tuple] = field(default_factory=list)

    def add(self, event: Event) -> None:
        """Read one event into the batch (a record already in it counts once)."""
        self.uids.append(event.uid)
        if event.timestamp_ms > self.high_water_ms:
            self.high_water_ms = event.timestamp_ms
        key = record_key(event)
        if key in self.marks:
            return
        reasons = _read_into(event, self.resolve, self.signals, self.seen, self.actions)
        if reasons:
            self.skipped.update(reasons)
        self.marks[key] = (len(self.signals), len(self.seen), len(self.actions), reasons)

    def __len__(self) -> int:
        return len(self.uids)

    def only(self, fresh: set[tuple[int, int]]) -> tuple[list[SignalTuple], list[sensors.Seen], list[tuple],
                                                           Counter]:
        """The readings of the records in ``fresh`` alone."""
        signals: list[SignalTuple] = []
        seen: list[sensors.Seen] = []
        actions: list[tuple] = []
        skipped: Counter = Counter()
        signal_at = seen_at = action_at = 0
        for key, (signal_end, seen_end, action_end, reasons) in self.marks.items():
            if key in fresh:
                signals += self.signals[signal_at:signal_end]
                seen += self.seen[seen_at:seen_end]
                actions += self.actions[action_at:action_end]
                skipped.update(reasons)
            signal_at, seen_at, action_at = signal_end, seen_end, action_end
        return signals, seen, actions, skipped


def tenant_cache(resolve_tenant: TenantResolver) -> TenantResolver:
    """``resolve_tenant`` asked once per Spaces tenant (a resolver may query the database): use one per batch, so
    that an activation or deactivation shows at the next batch."""
    tenants: dict[str, int | None] = {}

    def resolve(spaces_tenant_id: str) -> int | None:
        if spaces_tenant_id not in tenants:
            tenants[spaces_tenant_id] = resolve_tenant(spaces_tenant_id)
        return tenants[spaces_tenant_id]

    return resolve


def prepare(events: list[Event], resolve_tenant: TenantResolver) -> PreparedBatch:
    """Read a batch: its signals, catalogue sightings, skips and other writes, as if every event were new."""
    batch = PreparedBatch(tenant_cache(resolve_tenant))
    for event in events:
        batch.add(event)
    return batch


def apply_batch(key: StreamKey, events: list[Event], resolve_tenant: TenantResolver) -> BatchOutcome:
    """Apply the events not applied before and move the checkpoint, atomically."""
    return apply_prepared(key, prepare(events, resolve_tenant))


def apply_prepared(key: StreamKey, batch: PreparedBatch) -> BatchOutcome:
    """Apply a prepared batch's events not applied before and move the checkpoint, atomically.

    Whatever the batch size this is a fixed handful of statements: the checkpoint locked, the batch's recordUids
    claimed in one INSERT (the unique index says which were applied before), the catalogue refreshed, the
    signals, pending signals and room states written by the intake in one statement each, the checkpoint moved."""
    outcome = BatchOutcome()
    if not batch.uids:
        return outcome
    try:
        with transaction.atomic():
            _apply(key, batch, outcome)
    except BaseException:
        sensors.forget_written()  # the catalogue rows it meant to write were rolled back with the batch
        raise
    return outcome


def _apply(key: StreamKey, batch: PreparedBatch, outcome: BatchOutcome) -> None:
    if connection.vendor == "postgresql":
        # The commit need not wait for the WAL to reach the disk: a database crash can then lose the last
        # batches committed, but it loses each one whole (its signals with its recordUids and its checkpoint),
        # so the stream, resumed from the checkpoint that survived, brings them again and they are applied once.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
    checkpoint, _ = Checkpoint.objects.select_for_update().get_or_create(**key.lookup)
    fresh = _claim(list(batch.marks))
    outcome.duplicates = len(batch.uids) - len(fresh)
    if len(fresh) == len(batch.marks):
        signals, seen, actions = batch.signals, batch.seen, batch.actions
        outcome.skipped.update(batch.skipped)
    else:  # some were applied before: only the others count
        signals, seen, actions, skipped = batch.only(fresh)
        outcome.skipped.update(skipped)
    for action in actions:
        if action[0] == "location":
            apply_location_changes(action[1], action[2])
        else:
            event = action[1]
            AppActivationEvent.objects.create(spaces_tenant_id=event.spaces_tenant_id, record_uid=event.uid[:200],
                                              payload=action[2])
            logger.info("firehose: appActivation for Spaces tenant %s", event.spaces_tenant_id)
    if seen:
        sensors.note_seen(seen)
    if signals:
        result = record_many(signals)
        outcome.signals = result.accepted
        outcome.skipped.update(result.refused)
        if result.pending:  # kept for when the location or workspace is mapped (counted to be seen)
            outcome.skipped["pending_unmapped"] += result.pending
    outcome.applied = len(fresh)
    outcome.high_water_ms = max(checkpoint.high_water_ms, batch.high_water_ms)
    checkpoint.high_water_ms = outcome.high_water_ms
    checkpoint.applied += outcome.applied
    checkpoint.duplicates += outcome.duplicates
    merged = Counter(checkpoint.skipped)
    merged.update(outcome.skipped)
    checkpoint.skipped = dict(merged)
    checkpoint.save()
    ReceiverStatus.objects.filter(**key.lookup).update(last_event_at=timezone.now())


def record_key(event: Event) -> tuple[int, int]:
    """How the de-dup store knows a record: its ``recordTimestamp`` and a signed 64-bit BLAKE2b hash of its
    ``recordUid`` (see :class:`firehose.models.SeenRecord`). The migration that filled the store from recordUids
    hashes the same way: change neither alone."""
    digest = hashlib.blake2b(event.uid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return event.timestamp_ms, int.from_bytes(digest, "big", signed=True)


def _claim(keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of the batch's records (by :func:`record_key`, each once), those never applied before, their keys now
    remembered (in the batch's transaction).

    PostgreSQL: one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, so the primary key is probed once per record,
    by the insert itself, and a record another receiver is applying at this moment waits for that transaction and
    then counts as a duplicate. SQLite (one writer at a time): one lookup, then one insert of the new ones."""
    table = SeenRecord._meta.db_table
    columns = ["record_timestamp_ms", "uid_hash"]
    if connection.vendor == "postgresql":
        claimed = bulk.insert_columns(table, columns, [[key[0] for key in keys], [key[1] for key in keys]],
                                      "ON CONFLICT DO NOTHING RETURNING record_timestamp_ms, uid_hash")
        return {(row[0], row[1]) for row in claimed}
    seen: set[tuple[int, int]] = set()
    ordered = sorted(keys)
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), _SQLITE_CHUNK):
            chunk = ordered[start:start + _SQLITE_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            # The range of timestamps enters the primary key; the hashes pick the rows out of it.
            cursor.execute(f"SELECT record_timestamp_ms, uid_hash FROM {table} WHERE record_timestamp_ms "  # noqa: S608
                           f"BETWEEN %s AND %s AND uid_hash IN ({marks})",
                           [chunk[0][0], chunk[-1][0], *(key[1] for key in chunk)])
            seen.update((row[0], row[1]) for row in cursor.fetchall())
    fresh = [key for key in keys if key not in seen]
    bulk.insert_rows(table, columns, fresh)
    return set(fresh)


def _read_into(event: Event, resolve_tenant: TenantResolver, signals: list[SignalTuple],
               seen: list[sensors.Seen], actions: list[tuple]) -> tuple[str, ...]:
    """One event's reading, added to the batch's; returns why (parts of) it were skipped. No database work here
    but the tenant lookup (``actions`` holds the writes it asks for besides its signals, done in the batch's
    transaction)."""
    reading = read(event)
    reasons: tuple[str, ...] = ()
    if reading.skipped:
        reasons = (reading.skipped,)
        if not reading.seen:
            return reasons
    if reading.activation is not None:
        actions.append(("activation", event, reading.activation))
        return reasons
    tenant_id = resolve_tenant(event.spaces_tenant_id)
    if tenant_id is None:
        return (*reasons, "unknown_tenant")
    drafts = reading.signals
    if not reading.location_changes and len(drafts) <= 1:  # nearly every event: no dicts to build
        source = drafts[0].source if drafts else ""
        draft_key = (drafts[0].key_kind, drafts[0].key) if drafts else None
        for item in reading.seen:
            seen.append(_seen(tenant_id, item, source if (item.kind, item.key) == draft_key else "", None))
    else:  # one entry per kind of signal a source sent (a Webex device's presence and its people count)
        kinds: dict[tuple[str, str], list[str]] = {}
        for draft in drafts:
            kinds.setdefault((draft.key_kind, draft.key), []).append(draft.source)
        removed = {change.location_id: change.change == "REMOVE" for change in reading.location_changes}
        seen += [_seen(tenant_id, item, source, removed.get(item.key))
                 for item in reading.seen for source in kinds.get((item.kind, item.key), [""])]
    if reading.location_changes:
        actions.append(("location", tenant_id, reading.location_changes))
    for draft in drafts:
        signals.append((tenant_id, draft.key_kind, draft.key, draft.source, draft.observed_at, draft.present,
                        draft.people_count, draft.peak_count, draft.window_end, event.uid))
    return reasons


#: SourceSeen (by identity: the reader hands out one object per location it keeps seeing) → its catalogue entry.
_SEEN_ENTRIES: dict[tuple[int, int, str, bool | None], tuple[SourceSeen, sensors.Seen]] = {}
_SEEN_ENTRIES_MAX = 50_000


def _seen(tenant_id: int, item: SourceSeen, signal_source: str, removed: bool | None) -> sensors.Seen:
    ident = (tenant_id, id(item), signal_source, removed)
    known = _SEEN_ENTRIES.get(ident)
    if known is not None and known[0] is item:
        return known[1]
    entry = sensors.Seen(tenant_id, item.kind, item.key, item.name, " / ".join(item.hierarchy),
                         ",".join(item.types), item.parent_key, item.time_zone, signal_source, removed)
    if len(_SEEN_ENTRIES) >= _SEEN_ENTRIES_MAX:
        _SEEN_ENTRIES.clear()
    _SEEN_ENTRIES[ident] = (item, entry)  # holding the item keeps its id from being reused by another
    return entry


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
