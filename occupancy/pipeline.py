"""From stored signals to spans to booking outcomes, for a set of rooms and a time range. Idempotent: running it
again over the same data writes the same rows, so late signals and moved bookings are handled by running it again
over the range they touch."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room

from .bulk import copy_replace
from .fusion import DEFAULT_EMPTY_LAG, DEFAULT_SILENCE, Reading, fuse
from .models import (
    BookingOutcome,
    OccupancyPolicy,
    OccupancySignal,
    OccupancySpan,
    RoomGrace,
    RoomSourceState,
    SignalCursor,
    Source,
)
from .outages import FIREHOSE_SOURCES, outages_for
from .outcomes import Policy, Rules, SpanTuple, call
from .timestamps import MINUTE, EpochMicros, from_micros, micros

logger = logging.getLogger(__name__)
MAX_LAG = max(DEFAULT_EMPTY_LAG.values(), default=timedelta(0))


def signal_sources(limits: dict[str, timedelta]) -> list[str]:
    """Every source a stored signal can name: the intake writes only :class:`Source` values, and a silence limit
    may be set for another."""
    return sorted(set(Source.values) | set(limits))


def silence_limits() -> dict[str, timedelta]:
    """How long each kind of source is believed without a word (``OCCUPANCY_SOURCE_SILENCE_S`` over the defaults)."""
    limits = dict(DEFAULT_SILENCE)
    limits.update({name: timedelta(seconds=value) for name, value in settings.OCCUPANCY_SOURCE_SILENCE_S.items()})
    return limits


@dataclass
class RecomputeReport:
    outcomes: int = 0
    removed: int = 0
    exempt: int = 0


# --------------------------------------------------------------------------------------------------------
# Spans
# --------------------------------------------------------------------------------------------------------


@transaction.atomic
def rebuild_spans(room_ids: Iterable[int], start: datetime, end: datetime) -> int:
    """Fuse the rooms' signals over [start, end) and replace the stored spans there; returns how many were fused.

    Stored spans that straddle an edge keep their part outside the range, and are joined again with a fused span
    of the same state that meets them: the refresh fuses a few minutes at a time, and without the join an hour in
    a room would be stored as sixty one-minute spans (joined spans keep the higher peak and a duration-weighted
    median)."""
    room_ids = sorted(set(room_ids))
    _lock_rooms(room_ids)
    limits = silence_limits()
    readings: dict[int, list[Reading]] = defaultdict(list)
    tenants: dict[int, int] = {}
    # Sources report on change: the reading that holds at ``start`` may be hours old. One index probe per room and
    # source finds it, rather than reading every signal of the longest silence limit.
    for room_id, tenant_id, source, observed_at, present, people in _readings_before(room_ids, start, limits):
        readings[room_id].append(Reading(source, observed_at, present, people))
        tenants[room_id] = tenant_id
    # Every source named, so the one index of signals, (room, source, observed_at), is entered at each of them
    # rather than read through every signal the rooms ever had.
    rows = (OccupancySignal.objects.filter(room_id__in=room_ids, source__in=signal_sources(limits),
                                           observed_at__gte=start, observed_at__lt=end + MAX_LAG)
            .order_by("observed_at").values_list("room_id", "tenant_id", "source", "observed_at", "present",
                                                  "people_count"))
    for room_id, tenant_id, source, observed_at, present, people in rows.iterator(chunk_size=5000):
        readings[room_id].append(Reading(source, observed_at, present, people))
        tenants[room_id] = tenant_id
    stored: dict[int, list[OccupancySpan]] = defaultdict(list)
    # Spans that end exactly at ``start`` are taken too, so that extending a timeline joins its last span.
    for span in OccupancySpan.objects.filter(room_id__in=room_ids, start__lt=end, end__gte=start).order_by("start"):
        stored[span.room_id].append(span)
    OccupancySpan.objects.filter(pk__in=[span.pk for spans in stored.values() for span in spans]).delete()
    for room_id in room_ids:
        if room_id not in tenants:
            tenants[room_id] = _tenant_of(room_id)
    lost = outages_for(set(tenants.values()), start - max(limits.values()), end)
    fused, new = 0, []
    for room_id in room_ids:
        pieces = [_Piece(span.start, start, span.state, span.peak_people, span.median_people, span.sources)
                  for span in stored[room_id] if span.start < start]
        for span in fuse(readings.get(room_id, []), start, end, staleness=limits,
                         outages=lost.get(tenants[room_id], ()), outage_sources=FIREHOSE_SOURCES):
            pieces.append(_Piece(span.start, span.end, span.state, span.peak, span.median,
                                 ",".join(sorted(span.sources))))
            fused += 1
        pieces += [_Piece(end, span.end, span.state, span.peak_people, span.median_people, span.sources)
                   for span in stored[room_id] if span.end > end]
        new += [OccupancySpan(tenant_id=tenants[room_id], room_id=room_id, start=piece.start, end=piece.end,
                              state=piece.state, peak_people=piece.peak, median_people=piece.median,
                              sources=piece.sources[:200]) for piece in _joined(pieces)]
    OccupancySpan.objects.bulk_create(new, batch_size=2000)
    return fused


def _readings_before(room_ids: list[int], start: datetime,
                     limits: dict[str, timedelta]) -> list[tuple]:
    """Each room's last reading of each source before ``start``, within that source's silence limit."""
    sources = sorted(limits)
    rooms = Room.objects.filter(pk__in=room_ids).annotate(**{
        f"last_{index}": Subquery(OccupancySignal.objects.filter(
            room_id=OuterRef("pk"), source=source, observed_at__lt=start,
            observed_at__gte=start - limits[source]).order_by("-observed_at", "-pk").values("pk")[:1])
        for index, source in enumerate(sources)
    }).values_list(*(f"last_{index}" for index in range(len(sources))))
    ids = [pk for row in rooms for pk in row if pk is not None]
    if not ids:
        return []
    return list(OccupancySignal.objects.filter(pk__in=ids).values_list(
        "room_id", "tenant_id", "source", "observed_at", "present", "people_count"))


@dataclass
class _Piece:
    start: datetime
    end: datetime
    state: str
    peak: int | None
    median: float | None
    sources: str


def _joined(pieces: list[_Piece]) -> list[_Piece]:
    """Neighbours of the same state that meet, as one."""
    out: list[_Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if last is None or last.state != piece.state or last.end != piece.start:
            out.append(piece)
            continue
        if last.median is None or piece.median is None:
            median = piece.median if last.median is None else last.median
        else:
            before, after = (last.end - last.start).total_seconds(), (piece.end - piece.start).total_seconds()
            median = (last.median * before + piece.median * after) / ((before + after) or 1)
        peaks = [peak for peak in (last.peak, piece.peak) if peak is not None]
        names = {name for name in f"{last.sources},{piece.sources}".split(",") if name}
        out[-1] = _Piece(last.start, piece.end, last.state, max(peaks) if peaks else None, median,
                         ",".join(sorted(names)))
    return out


def _tenant_of(room_id: int) -> int:
    from spaces_calendar.core.models import Room

    return Room.objects.values_list("tenant_id", flat=True).get(pk=room_id)


# --------------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------------


def policies(room_ids: Iterable[int]) -> dict[int, Policy]:
    """Each room's policy: the tenant's, with the room's own grace window if it has one."""
    from spaces_calendar.core.models import Room

    room_ids = list(room_ids)
    tenant_of = dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "tenant_id"))
    tenant_policy = {p.tenant_id: p for p in OccupancyPolicy.objects.filter(tenant_id__in=set(tenant_of.values()))}
    grace = dict(RoomGrace.objects.filter(room_id__in=room_ids).values_list("room_id", "grace_minutes"))
    result = {}
    for room_id, tenant_id in tenant_of.items():
        policy = tenant_policy.get(tenant_id)
        minutes = grace.get(room_id, policy.grace_minutes if policy else 10)
        result[room_id] = Policy(grace=timedelta(minutes=minutes),
                                 exempt_after=timedelta(hours=policy.exempt_after_hours if policy else 8))
    return result


@transaction.atomic
def recompute_outcomes(room_ids: Iterable[int], start: datetime, end: datetime,
                       now: datetime | None = None) -> RecomputeReport:
    """(Re)compute the outcome of every booking of these rooms that overlaps [start, end).

    Written for rebuilds of months of bookings as much as for the minute-by-minute refresh: times are read as
    integer microseconds (``EpochMicros``), spans as plain tuples, and each booking is called in one pass over
    the spans that overlap it (``outcomes.call``); datetimes are made only for what is written.
    """
    now = now or timezone.now()
    room_ids = sorted(set(room_ids))
    report = RecomputeReport()
    _lock_rooms(room_ids)
    rules = {room_id: Rules.of(policy) for room_id, policy in policies(room_ids).items()}
    tenant_of = _tenants(room_ids)
    bookings = _fetch(Booking.objects.filter(room_id__in=room_ids, start__lt=end, end__gt=start)
                      .annotate(s=EpochMicros("start"), e=EpochMicros("end")).order_by("room_id", "start")
                      .values_list("pk", "room_id", "s", "e", "all_day", "cancelled", "series_id", "organizer_hash"))
    if not bookings:
        return report
    spans = _span_tuples(room_ids, min(row[2] for row in bookings), max(row[3] for row in bookings))
    rows, drop = [], []
    room_spans, room_id_of_spans, cursor = [], None, 0
    now_us, default = micros(now), Rules.of(Policy())
    for pk, room_id, b_start, b_end, all_day, cancelled, series, organizer in bookings:
        if room_id != room_id_of_spans:
            room_spans, room_id_of_spans, cursor = spans.get(room_id, []), room_id, 0
        rule = rules.get(room_id, default)
        if cancelled or all_day or b_end - b_start >= rule.exempt_after:
            report.exempt += not cancelled
            drop.append(pk)
            continue
        # Bookings and spans are both in start order: skip spans that ended before this booking began.
        while cursor < len(room_spans) and room_spans[cursor][1] <= b_start:
            cursor += 1
        result = call(b_start, b_end, room_spans, cursor, now_us, rule)
        if result is None:
            drop.append(pk)
            continue
        outcome, final, first, last, peak, median_people, occupied, unknown, coverage, sources = result
        first_at = from_micros(first) if first is not None else None
        evidence = {
            "first_presence_at": first_at.isoformat() if first_at else None,
            "last_presence_at": from_micros(last).isoformat() if last is not None else None,
            "peak_people": peak, "median_people": median_people,
            "occupied_minutes": round(occupied / MINUTE, 1), "data_gap_minutes": round(unknown / MINUTE, 1),
            "grace_window_coverage": round(coverage, 3), "sources": _sorted(sources),
        }
        # Plain tuples in _OUTCOME_COLUMNS order: building half a million model instances was a cost of its own.
        rows.append((pk, tenant_of[room_id], room_id, from_micros(b_start), from_micros(b_end), outcome, final,
                     first_at, peak, median_people, occupied / MINUTE, unknown / MINUTE, series, organizer, evidence,
                     now))
    if drop:
        report.removed = BookingOutcome.objects.filter(booking_id__in=drop).delete()[0]
    write_outcomes(rows)
    report.outcomes = len(rows)
    return report


def _lock_rooms(room_ids: list[int]) -> None:
    """Serialise recomputes of the same rooms (a late signal and the periodic refresh, say) until commit, so the
    second reads what the first wrote, and ``write_outcomes`` may replace rows rather than upsert them.
    SQLite needs nothing: its write transactions (IMMEDIATE) already run one at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:  # in id order, so two overlapping sets cannot deadlock
        cursor.execute("SELECT pg_advisory_xact_lock(%s, (r %% 2147483647)::int) FROM unnest(%s::bigint[]) AS r "
                       "ORDER BY r", [_LOCK_NAMESPACE, room_ids])


_LOCK_NAMESPACE = 0x0C_C0  # pg_advisory_xact_lock(namespace, room): ours among other users of advisory locks


def _fetch(queryset: QuerySet) -> list[tuple]:
    """A values_list queryset's rows from the driver directly: Django's per-value converters cost more than the
    query on half a million rows, and the values here are plain numbers, strings and booleans (SQLite: 0/1)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _tenants(room_ids: list[int]) -> dict[int, int]:
    from spaces_calendar.core.models import Room

    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "tenant_id"))


def _span_tuples(room_ids: list[int], start_us: int, end_us: int) -> dict[int, list[SpanTuple]]:
    """The rooms' stored spans overlapping [start, end) (in microseconds), in start order, as ``outcomes.call``
    takes them."""
    spans: dict[int, list[SpanTuple]] = defaultdict(list)
    rows = _fetch(OccupancySpan.objects.filter(room_id__in=room_ids, start__lt=from_micros(end_us),
                                               end__gt=from_micros(start_us))
                  .annotate(s=EpochMicros("start"), e=EpochMicros("end")).order_by("room_id", "start")
                  .values_list("room_id", "s", "e", "state", "peak_people", "median_people", "sources"))
    source_sets: dict[str, frozenset[str]] = {}
    for room_id, s, e, state, peak, median_people, names in rows:
        sources = source_sets.get(names)
        if sources is None:
            sources = source_sets[names] = frozenset(names.split(",")) if names else frozenset()
        spans[room_id].append((s, e, state, peak, (median_people,) if median_people is not None else (), sources))
    return spans


@lru_cache(maxsize=256)
def _sorted(sources: frozenset[str]) -> list[str]:
    return sorted(sources)


_OUTCOME_COLUMNS = ["booking_id", "tenant_id", "room_id", "start", "end", "outcome", "final", "first_presence_at",
                    "peak_people", "median_people", "occupied_minutes", "unknown_minutes", "series_id",
                    "organizer_hash", "evidence", "computed_at"]


def write_outcomes(rows: list[tuple]) -> None:
    """Write outcomes (tuples in ``_OUTCOME_COLUMNS`` order), replacing those of the same bookings; the caller
    holds the rooms' lock. On PostgreSQL a large set is deleted and COPYed in: Django's multi-row upsert spends
    most of its time building and binding parameters, which capped a from-scratch recompute at about 3,000
    bookings/s, and COPY into a scratch table plus INSERT ... ON CONFLICT cost a third more than this."""
    if connection.vendor == "postgresql" and len(rows) >= COPY_THRESHOLD:
        copy_replace(BookingOutcome, _OUTCOME_COLUMNS, rows, "booking_id")
        return
    BookingOutcome.objects.bulk_create(
        [BookingOutcome(**dict(zip(_OUTCOME_COLUMNS, row, strict=True))) for row in rows],
        batch_size=2000, update_conflicts=True, unique_fields=["booking"],
        update_fields=[{"tenant_id": "tenant", "room_id": "room"}.get(name, name) for name in _OUTCOME_COLUMNS[1:]],
    )


COPY_THRESHOLD = 500


# --------------------------------------------------------------------------------------------------------
# What the periodic task runs
# --------------------------------------------------------------------------------------------------------


def fold_new_signals(limit: int = 50_000, now: datetime | None = None) -> int:
    """Rebuild spans and outcomes wherever signals arrived since the last run (late ones included)."""
    cursor, _ = SignalCursor.objects.get_or_create(name=SPANS_CURSOR)
    rows = list(OccupancySignal.objects.filter(pk__gt=cursor.last_id).order_by("pk")
                .values_list("pk", "room_id", "observed_at")[:limit])
    if not rows:
        return 0
    ranges: dict[int, tuple[datetime, datetime]] = {}
    for _, room_id, observed_at in rows:
        low, high = ranges.get(room_id, (observed_at, observed_at))
        ranges[room_id] = (min(low, observed_at), max(high, observed_at))
    # Rooms whose new signals cover about the same stretch (the usual case: the last minute) are fused and called
    # together, FOLD_BATCH at a time: one room at a time cost ~10 ms each, a minute's work for 5,000 rooms.
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for room_id, (low, high) in sorted(ranges.items()):
        groups[(int(low.timestamp() // 900), int(high.timestamp() // 900))].append(room_id)
    # A reading holds until its source's next one, so a signal changes the timeline from its time up to now.
    now = now or timezone.now()
    for rooms in groups.values():
        for index in range(0, len(rooms), FOLD_BATCH):
            batch = rooms[index:index + FOLD_BATCH]
            start = min(ranges[room_id][0] for room_id in batch) - MAX_LAG
            end = max(now, max(ranges[room_id][1] for room_id in batch) + MAX_LAG)
            rebuild_spans(batch, start, end)
            recompute_outcomes(batch, start, end)
    # Never backwards: a run that overlapped this one may already have gone further (folding is idempotent).
    SignalCursor.objects.filter(pk=cursor.pk, last_id__lt=rows[-1][0]).update(last_id=rows[-1][0])
    return len(rows)


SPANS_CURSOR = "spans"
FOLD_BATCH = 100
#: How far back ``extend_spans`` fuses a room that has no stored span yet.
EXTEND_LOOKBACK = timedelta(days=1)


def extend_spans(now: datetime | None = None) -> dict[int, datetime]:
    """Carry every sensor-covered room's timeline forward to ``now``: a source that reported on change and then
    stayed quiet still says what it said (until its silence limit), with no new signal to trigger a fold.
    Returns the rooms extended, each with where its extension began."""
    now = now or timezone.now()
    covered = set(RoomSourceState.objects.values_list("room_id", flat=True).distinct())
    if not covered:
        return {}
    ends = dict(OccupancySpan.objects.filter(room_id__in=covered).values("room_id").annotate(last=Max("end"))
                .values_list("room_id", "last"))
    due = {room_id: max(ends.get(room_id) or now - EXTEND_LOOKBACK, now - EXTEND_LOOKBACK) for room_id in covered}
    due = {room_id: start for room_id, start in due.items() if start < now - EXTEND_MIN}
    groups: dict[int, list[int]] = defaultdict(list)
    for room_id, start in sorted(due.items()):
        groups[int(start.timestamp() // 900)].append(room_id)
    for rooms in groups.values():
        for index in range(0, len(rooms), FOLD_BATCH):
            batch = rooms[index:index + FOLD_BATCH]
            start = min(due[room_id] for room_id in batch)
            rebuild_spans(batch, start, now)
            recompute_outcomes(batch, start, now, now)
    return due


EXTEND_MIN = timedelta(seconds=30)
OUTAGES_CURSOR = "outages"


def apply_outage_changes(now: datetime | None = None) -> dict[int, datetime]:
    """Fuse again the rooms of tenants whose stream outages opened, closed or shrank since the last run (an
    outage changes no signal, so no fold would notice it). Returns the rooms, each with where it was refused."""
    from .outages import changed_since

    now = now or timezone.now()
    cursor, _ = SignalCursor.objects.get_or_create(name=OUTAGES_CURSOR)
    after = from_micros(cursor.last_id) if cursor.last_id else None
    changes = changed_since(after)
    if not changes:
        return {}
    earliest: dict[int, datetime] = {}
    for tenant_id, start, _end, _recorded in changes:
        earliest[tenant_id] = min(earliest.get(tenant_id, start), start)
    touched: dict[int, datetime] = {}
    floor = now - timedelta(seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    for tenant_id, start in earliest.items():
        start = max(start, floor) - MAX_LAG
        rooms = sorted(set(RoomSourceState.objects.filter(room__tenant_id=tenant_id)
                           .values_list("room_id", flat=True)))
        for index in range(0, len(rooms), FOLD_BATCH):
            batch = rooms[index:index + FOLD_BATCH]
            rebuild_spans(batch, start, now)
            recompute_outcomes(batch, start, now, now)
        touched.update(dict.fromkeys(rooms, start))
    SignalCursor.objects.filter(pk=cursor.pk).update(last_id=micros(changes[-1][3]))
    return touched


def recompute_room(room_id: int, start: datetime, now: datetime | None = None) -> None:
    """A room's timeline and outcomes again from ``start`` to now (its sensor was just mapped, say)."""
    now = now or timezone.now()
    rebuild_spans([room_id], start - MAX_LAG, now)
    recompute_outcomes([room_id], start - MAX_LAG, now, now)


def outcomes_coming_due(now: datetime | None = None, lookback: timedelta = timedelta(days=2)) -> list[int]:
    """Call the bookings whose grace window or end has passed since they were last called; returns their rooms.

    Exempt bookings (all-day, or as long as the room's ``exempt_after``) never get an outcome, and bookings still
    inside their grace window get none yet: neither makes its room due, or such a room would be recomputed every
    minute for nothing."""
    now = now or timezone.now()
    candidates = list(Booking.objects.filter(cancelled=False, all_day=False, start__gte=now - lookback,
                                             start__lte=now)
                      .filter(Q(outcome__isnull=True) | Q(outcome__final=False, end__lte=now))
                      .values_list("room_id", "start", "end"))
    rules = policies({room_id for room_id, _, _ in candidates})
    due: dict[int, datetime] = {}
    for room_id, b_start, b_end in candidates:
        policy = rules.get(room_id, Policy())
        if b_end - b_start < policy.exempt_after and min(b_start + policy.grace, b_end) <= now:
            due[room_id] = min(due.get(room_id, b_start), b_start)
    if due:
        recompute_outcomes(list(due), min(due.values()), now + timedelta(minutes=1), now)
    return sorted(due)


# --------------------------------------------------------------------------------------------------------
# Raw signals
# --------------------------------------------------------------------------------------------------------


def signal_horizon(now: datetime | None = None) -> datetime:
    """Raw signals before this are pruned: spans before it can no longer be fused again."""
    return (now or timezone.now()) - timedelta(days=settings.OCCUPANCY_SIGNAL_RETENTION_DAYS)


def prune_signals(now: datetime | None = None, chunk: int = 10_000) -> int:
    """Delete raw signals older than the retention that have been folded into spans (the spans, the latest state
    per source and everything computed from them stay). In chunks, so no single statement holds the table long."""
    horizon = signal_horizon(now)
    folded = SignalCursor.objects.filter(name=SPANS_CURSOR).values_list("last_id", flat=True).first() or 0
    deleted = 0
    while True:
        ids = list(OccupancySignal.objects.filter(observed_at__lt=horizon, pk__lte=folded)
                   .order_by("pk").values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += OccupancySignal.objects.filter(pk__in=ids).delete()[0]
