"""From stored signals to spans to booking outcomes, for a set of rooms and a time range. Idempotent: running it
again over the same data writes the same rows, so late signals and moved bookings are handled by running it again
over the range they touch."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from spaces_calendar.calendars.models import Booking

from .bulk import copy_upsert
from .fusion import DEFAULT_EMPTY_LAG, DEFAULT_STALENESS, Reading, Span, fuse
from .models import BookingOutcome, OccupancyPolicy, OccupancySignal, OccupancySpan, RoomGrace, SignalCursor
from .outcomes import Policy, classify, is_exempt

logger = logging.getLogger(__name__)
MAX_STALENESS = max(DEFAULT_STALENESS.values())
MAX_LAG = max(DEFAULT_EMPTY_LAG.values(), default=timedelta(0))


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
    """Fuse the rooms' signals over [start, end) and replace the stored spans there (trimming the ones that
    straddle the edges)."""
    room_ids = list(room_ids)
    readings: dict[int, list[Reading]] = defaultdict(list)
    tenants: dict[int, int] = {}
    rows = (OccupancySignal.objects.filter(room_id__in=room_ids, observed_at__gte=start - MAX_STALENESS,
                                           observed_at__lt=end + MAX_LAG)
            .order_by("observed_at").values_list("room_id", "tenant_id", "source", "observed_at", "present",
                                                  "people_count"))
    for room_id, tenant_id, source, observed_at, present, people in rows.iterator(chunk_size=5000):
        readings[room_id].append(Reading(source, observed_at, present, people))
        tenants[room_id] = tenant_id
    overlapping = OccupancySpan.objects.filter(room_id__in=room_ids, start__lt=end, end__gt=start)
    # A stored span that covers the whole range keeps its part after the range too (trimming it to the start
    # first would lose that tail).
    tails = [OccupancySpan(tenant_id=s.tenant_id, room_id=s.room_id, start=end, end=s.end, state=s.state,
                           peak_people=s.peak_people, median_people=s.median_people, sources=s.sources)
             for s in overlapping.filter(start__lt=start, end__gt=end)]
    overlapping.filter(start__gte=start, end__lte=end).delete()
    overlapping.filter(start__lt=start).update(end=start)
    overlapping.filter(end__gt=end).update(start=end)
    new = []
    for room_id in room_ids:
        if room_id not in tenants:
            tenants[room_id] = _tenant_of(room_id)
        for span in fuse(readings.get(room_id, []), start, end):
            new.append(OccupancySpan(
                tenant_id=tenants[room_id], room_id=room_id, start=span.start, end=span.end, state=span.state,
                peak_people=span.peak, median_people=span.median, sources=",".join(sorted(span.sources))[:200],
            ))
    OccupancySpan.objects.bulk_create(new + tails, batch_size=2000)
    return len(new)


def _tenant_of(room_id: int) -> int:
    from spaces_calendar.core.models import Room

    return Room.objects.values_list("tenant_id", flat=True).get(pk=room_id)


def load_spans(room_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, list[Span]]:
    spans: dict[int, list[Span]] = defaultdict(list)
    rows = (OccupancySpan.objects.filter(room_id__in=list(room_ids), start__lt=end, end__gt=start)
            .order_by("room_id", "start")
            .values_list("room_id", "start", "end", "state", "peak_people", "median_people", "sources"))
    for room_id, s, e, state, peak, median_people, sources in rows.iterator(chunk_size=10000):
        people = [median_people] if median_people is not None else []
        spans[room_id].append(Span(s, e, state, peak, people, set(sources.split(",")) if sources else set()))
    return spans


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
    """(Re)compute the outcome of every booking of these rooms that overlaps [start, end)."""
    now = now or timezone.now()
    room_ids = list(room_ids)
    report = RecomputeReport()
    bookings = list(Booking.objects.filter(room_id__in=room_ids, start__lt=end, end__gt=start)
                    .order_by("room_id", "start")
                    .values_list("pk", "room_id", "room__tenant_id", "start", "end", "all_day", "cancelled",
                                 "series_id", "organizer_hash"))
    if not bookings:
        return report
    span_start = min(row[3] for row in bookings)
    span_end = max(row[4] for row in bookings)
    spans = load_spans(room_ids, span_start, span_end)
    rules = policies(room_ids)
    rows, drop = [], []
    cursor: dict[int, int] = defaultdict(int)
    for pk, room_id, tenant_id, b_start, b_end, all_day, cancelled, series, organizer in bookings:
        policy = rules.get(room_id, Policy())
        if cancelled or is_exempt(b_start, b_end, all_day, policy):
            report.exempt += not cancelled
            drop.append(pk)
            continue
        room_spans = spans.get(room_id, [])
        # Bookings and spans are both in start order: skip spans that ended before this booking began.
        index = cursor[room_id]
        while index < len(room_spans) and room_spans[index].end <= b_start:
            index += 1
        cursor[room_id] = index
        window = []
        for span in room_spans[index:]:
            if span.start >= b_end:
                break
            window.append(span)
        result = classify(b_start, b_end, window, now, policy)
        if result is None:
            drop.append(pk)
            continue
        # Plain tuples in _OUTCOME_COLUMNS order: building half a million model instances was a cost of its own.
        rows.append((pk, tenant_id, room_id, b_start, b_end, result.outcome, result.final, result.first_presence_at,
                     result.peak_people, result.median_people, result.occupied_minutes, result.unknown_minutes,
                     series, organizer, result.evidence(), now))
    if drop:
        report.removed = BookingOutcome.objects.filter(booking_id__in=drop).delete()[0]
    write_outcomes(rows)
    report.outcomes = len(rows)
    return report


_OUTCOME_COLUMNS = ["booking_id", "tenant_id", "room_id", "start", "end", "outcome", "final", "first_presence_at",
                    "peak_people", "median_people", "occupied_minutes", "unknown_minutes", "series_id",
                    "organizer_hash", "evidence", "computed_at"]


def write_outcomes(rows: list[tuple]) -> None:
    """Upsert outcomes by booking. On PostgreSQL a large set goes through COPY into a scratch table and one
    INSERT ... ON CONFLICT: Django's multi-row INSERT spends most of its time building and binding parameters,
    which capped a from-scratch recompute at about 3,000 bookings/s."""
    if connection.vendor == "postgresql" and len(rows) >= COPY_THRESHOLD:
        copy_upsert(BookingOutcome, _OUTCOME_COLUMNS, rows, ["booking_id"])
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


def fold_new_signals(limit: int = 50_000) -> int:
    """Rebuild spans and outcomes wherever signals arrived since the last run (late ones included)."""
    cursor, _ = SignalCursor.objects.get_or_create(name="spans")
    rows = list(OccupancySignal.objects.filter(pk__gt=cursor.last_id).order_by("pk")
                .values_list("pk", "room_id", "observed_at")[:limit])
    if not rows:
        return 0
    ranges: dict[int, tuple[datetime, datetime]] = {}
    for _, room_id, observed_at in rows:
        low, high = ranges.get(room_id, (observed_at, observed_at))
        ranges[room_id] = (min(low, observed_at), max(high, observed_at))
    for room_id, (low, high) in ranges.items():
        start, end = low - MAX_LAG, high + MAX_STALENESS
        rebuild_spans([room_id], start, end)
        recompute_outcomes([room_id], start, end)
    SignalCursor.objects.filter(pk=cursor.pk).update(last_id=rows[-1][0])
    return len(rows)


def outcomes_coming_due(now: datetime | None = None, lookback: timedelta = timedelta(days=2)) -> int:
    """Bookings whose grace window or end has passed since they were last looked at."""
    now = now or timezone.now()
    due = (Booking.objects.filter(cancelled=False, start__gte=now - lookback, start__lte=now)
           .filter(Q(outcome__isnull=True) | Q(outcome__final=False, end__lte=now))
           .values_list("room_id", flat=True).distinct())
    rooms = list(due)
    if rooms:
        recompute_outcomes(rooms, now - lookback, now + timedelta(minutes=1), now)
    return len(rooms)
