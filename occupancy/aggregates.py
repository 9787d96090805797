"""Daily aggregates per room and local date (RoomDay), from bookings, their outcomes and the fused spans.

Reports over months read these rows instead of millions of bookings and spans. The work is set-based: for each
batch of rooms, one query for bookings (with their outcomes) and one for spans, interval arithmetic on sorted
lists in Python, and one upsert. Running it again over the same data writes the same rows.

Definitions, all in minutes of the room's local day (its zone, DST-correct; a day has 23, 24 or 25 hours):

* ``booked``: the union of the non-cancelled bookings (overlaps count once); all-day and exempt bookings count.
* ``occupied`` / ``unknown``: time covered by occupied / unknown spans; ``occupied_booked`` = occupied ∩ booked,
  so unbooked occupancy is ``occupied - occupied_booked``.
* ``covered_booked``: booked time with fresh data (an occupied or empty span): the report's data coverage.
* ``bookings`` and the outcome counts: bookings *starting* that local day.
* ``recoverable``: booked time nobody used and that could have been released, counted on the day the booking
  starts: a ghost's whole duration, plus for an early end its known-empty tail (end minus the last presence
  recorded in the outcome's evidence).
* ``occupied_by_hour``: occupied minutes per local hour of day, index 0-23: on the autumn DST day both passes of
  the repeated hour add up in one slot, on the spring day the skipped hour stays 0.

Spans later than ``now`` are not counted: fusion lets a reading hold until it goes stale, a few minutes ahead.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room

from . import pipeline
from .bulk import copy_upsert
from .models import OccupancySignal, OccupancySpan, OutcomeKind, RoomDay, SignalCursor, SpanState
from .timestamps import Epoch

Interval = tuple[float, float]  # epoch seconds, [start, end)
BATCH_ROOMS = 200
DUE_LOOKBACK = timedelta(days=2)  # as pipeline.outcomes_coming_due
_COUNTED = {OutcomeKind.GHOST: "ghosts", OutcomeKind.LATE_START: "late_starts", OutcomeKind.EARLY_END: "early_ends",
            OutcomeKind.UNKNOWN: "unknowns"}
#: RoomDay's columns in the order _room_days builds its rows.
_COLUMNS = ["tenant_id", "room_id", "date", "bookings", "booked_minutes", "occupied_minutes", "occupied_booked_minutes",
            "unknown_minutes", "covered_booked_minutes", "ghosts", "late_starts", "early_ends", "unknowns",
            "recoverable_minutes", "peak_people", "occupied_by_hour", "computed_at"]
COPY_THRESHOLD = 500


@dataclass(frozen=True)
class RoomInfo:
    pk: int
    tenant_id: int
    zone: str


def rebuild_days(room_ids: Iterable[int], first_date: date, last_date: date, *, now: datetime | None = None,
                 batch_size: int = BATCH_ROOMS) -> int:
    """Compute and upsert the RoomDay of every room and local date in [first_date, last_date]; rows written."""
    now = now or timezone.now()
    rooms = room_infos(room_ids)
    written = 0
    for index in range(0, len(rooms), batch_size):
        written += _rebuild_batch(rooms[index:index + batch_size], first_date, last_date, now)
    return written


def rebuild_today(room_ids: Iterable[int], now: datetime | None = None) -> int:
    """The rooms' RoomDay for their own local today (rooms in different zones may be on different dates)."""
    now = now or timezone.now()
    return rebuild_between(room_ids, now, now, now=now)


def rebuild_between(room_ids: Iterable[int], start: datetime, end: datetime, *, now: datetime | None = None) -> int:
    """RoomDays for every local date that [start, end] touches in each room's zone."""
    return rebuild_ranges(dict.fromkeys(room_ids, (start, end)), now=now)


def rebuild_ranges(ranges: dict[int, tuple[datetime, datetime]], *, now: datetime | None = None) -> int:
    """RoomDays per room over its own [start, end] (local dates), with rooms of the same dates in one batch."""
    groups: dict[tuple[date, date], list[int]] = defaultdict(list)
    for room in room_infos(ranges):
        zone, (start, end) = ZoneInfo(room.zone), ranges[room.pk]
        groups[start.astimezone(zone).date(), end.astimezone(zone).date()].append(room.pk)
    return sum(rebuild_days(pks, first, last, now=now) for (first, last), pks in groups.items())


def room_infos(room_ids: Iterable[int]) -> list[RoomInfo]:
    rows = (Room.objects.filter(pk__in=list(room_ids)).order_by("pk")
            .values_list("pk", "tenant_id", "time_zone", "floor__building__time_zone"))
    return [RoomInfo(pk, tenant_id, own or building) for pk, tenant_id, own, building in rows]


# --------------------------------------------------------------------------------------------------------
# One batch of rooms
# --------------------------------------------------------------------------------------------------------


@dataclass
class _RoomData:
    bookings: list[tuple[float, float, str | None, str | None]]  # start, end, outcome, last presence (ISO)
    occupied: list[tuple[float, float, int | None]]  # with the span's peak people
    known: list[Interval]
    unknown: list[Interval]


def _rebuild_batch(rooms: list[RoomInfo], first: date, last: date, now: datetime) -> int:
    grids = {room.zone: _grid(room.zone, first, last) for room in rooms}
    low = datetime.fromtimestamp(min(grid.day_edges[0] for grid in grids.values()), UTC)
    high = datetime.fromtimestamp(max(grid.day_edges[-1] for grid in grids.values()), UTC)
    data = _load([room.pk for room in rooms], low, high, now.timestamp())
    rows = []
    for room in rooms:
        rows += _room_days(room, grids[room.zone], data[room.pk], now)
    with transaction.atomic():
        _write(rows)
    return len(rows)


def _write(rows: list[tuple]) -> None:
    """Upsert by (room, date). On PostgreSQL a large set goes through COPY into a scratch table and one
    INSERT ... ON CONFLICT, as pipeline.write_outcomes does: Django's multi-row INSERT spent ~40 % of a rebuild
    binding parameters."""
    if connection.vendor == "postgresql" and len(rows) >= COPY_THRESHOLD:
        copy_upsert(RoomDay, _COLUMNS, rows, ["room_id", "date"])
        return
    RoomDay.objects.bulk_create(
        [RoomDay(**dict(zip(_COLUMNS, row, strict=True))) for row in rows], batch_size=2000, update_conflicts=True,
        unique_fields=["room", "date"],
        update_fields=[name.replace("tenant_id", "tenant") for name in _COLUMNS if name not in ("room_id", "date")],
    )


def _load(room_ids: list[int], low: datetime, high: datetime, now_ts: float) -> dict[int, _RoomData]:
    data: dict[int, _RoomData] = defaultdict(lambda: _RoomData([], [], [], []))
    # end >= low (not >) keeps a zero-length booking at the very first instant: it still counts as a booking.
    bookings = (Booking.objects.filter(room_id__in=room_ids, cancelled=False, start__lt=high, end__gte=low)
                .annotate(s=Epoch("start"), e=Epoch("end"),
                          last_presence=KeyTextTransform("last_presence_at", "outcome__evidence"))
                .order_by().values_list("room_id", "s", "e", "outcome__outcome", "last_presence"))
    for room_id, start, end, outcome, last_presence in bookings.iterator(chunk_size=20000):
        data[room_id].bookings.append((start, end, outcome, last_presence))
    spans = (OccupancySpan.objects.filter(room_id__in=room_ids, start__lt=min(high, _at(now_ts)), end__gt=low)
             .annotate(s=Epoch("start"), e=Epoch("end")).order_by()
             .values_list("room_id", "s", "e", "state", "peak_people"))
    for room_id, start, end, state, peak in spans.iterator(chunk_size=20000):
        span = (start, min(end, now_ts))
        room = data[room_id]
        if state == SpanState.OCCUPIED:
            room.occupied.append((*span, peak))
            room.known.append(span)
        elif state == SpanState.EMPTY:
            room.known.append(span)
        else:
            room.unknown.append(span)
    return data


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _room_days(room: RoomInfo, grid: _Grid, data: _RoomData, now: datetime) -> list[tuple]:
    """The room's rows, in _COLUMNS order."""
    edges = grid.day_edges
    booked = merge((start, end) for start, end, _, _ in data.bookings)
    occupied = merge((start, end) for start, end, _ in data.occupied)
    booked_s = spread(booked, edges)
    occupied_booked_s = spread(intersect(occupied, booked), edges)
    covered_s = spread(intersect(merge(data.known), booked), edges)
    unknown_s = spread(merge(data.unknown), edges)
    hours = spread(occupied, grid.hour_edges)
    by_hour = [[0.0] * 24 for _ in grid.dates]
    for seconds, day, hour in zip(hours, grid.hour_day, grid.hour_of_day, strict=True):
        by_hour[day][hour] += seconds / 60
    counts, recoverable = _outcome_counts(data.bookings, edges)
    peaks = _peaks(data.occupied, edges)
    return [
        (room.tenant_id, room.pk, day, counts[i]["bookings"], _minutes(booked_s[i]), round(sum(by_hour[i]), 3),
         _minutes(occupied_booked_s[i]), _minutes(unknown_s[i]), _minutes(covered_s[i]), counts[i]["ghosts"],
         counts[i]["late_starts"], counts[i]["early_ends"], counts[i]["unknowns"], _minutes(recoverable[i]), peaks[i],
         [round(minutes, 3) for minutes in by_hour[i]], now)
        for i, day in enumerate(grid.dates)
    ]


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 3)


def _outcome_counts(bookings: list[tuple[float, float, str | None, str | None]],
                    edges: list[float]) -> tuple[list[dict[str, int]], list[float]]:
    """Per day: the bookings starting then and their outcome counts, and their recoverable seconds."""
    counts: list[dict[str, int]] = [dict.fromkeys(["bookings", *_COUNTED.values()], 0) for _ in edges[:-1]]
    recoverable = [0.0] * (len(edges) - 1)
    for start, end, outcome, last_presence in bookings:
        if not edges[0] <= start < edges[-1]:
            continue
        index = bisect_right(edges, start) - 1
        counts[index]["bookings"] += 1
        if outcome in _COUNTED:
            counts[index][_COUNTED[outcome]] += 1
        if outcome == OutcomeKind.GHOST:
            recoverable[index] += end - start
        elif outcome == OutcomeKind.EARLY_END and last_presence:
            recoverable[index] += _tail(end, last_presence)
    return counts, recoverable


def _tail(end: float, last_presence: str) -> float:
    try:
        return max(end - datetime.fromisoformat(last_presence).timestamp(), 0.0)
    except ValueError:
        return 0.0  # evidence we cannot read recovers nothing (as reports.recoverable_minutes)


def _peaks(occupied: list[tuple[float, float, int | None]], edges: list[float]) -> list[int | None]:
    peaks: list[int | None] = [None] * (len(edges) - 1)
    for start, end, peak in occupied:
        if peak is None:
            continue
        for day in _bins(start, end, edges):
            peaks[day] = peak if peaks[day] is None else max(peaks[day], peak)
    return peaks


# --------------------------------------------------------------------------------------------------------
# What the tasks run
# --------------------------------------------------------------------------------------------------------


@dataclass
class RebuildTotals:
    """What a rebuild over batches of rooms did (``rebuild_occupancy``, a change of the occupancy rules)."""

    rooms: int = 0
    spans: int = 0
    outcomes: int = 0
    exempt: int = 0
    removed: int = 0
    days: int = 0

    def add(self, other: RebuildTotals) -> None:
        for name in ("spans", "outcomes", "exempt", "removed", "days"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add_outcomes(self, report: pipeline.RecomputeReport) -> None:
        self.outcomes += report.outcomes
        self.exempt += report.exempt
        self.removed += report.removed


@dataclass
class RefreshReport:
    signals: int = 0
    due_rooms: int = 0
    days: int = 0


def refresh(now: datetime | None = None) -> RefreshReport:
    """The periodic step: fold new signals into spans and outcomes, call bookings whose grace window or end has
    passed, then rebuild the RoomDays those touched (at least yesterday and today of each such room)."""
    now = now or timezone.now()
    before = _cursor()
    report = RefreshReport(signals=pipeline.fold_new_signals(now=now))
    touched = _signal_rooms(before, _cursor()) if report.signals else {}
    extended = pipeline.extend_spans(now)
    for room_id, start in pipeline.apply_outage_changes(now).items():
        extended[room_id] = min(extended.get(room_id, start), start)
    for room_id, start in extended.items():
        touched[room_id] = min(touched.get(room_id, start), start)
    due = pipeline.outcomes_coming_due(now, lookback=DUE_LOOKBACK)
    report.due_rooms = len(due)
    for room_id in due:
        touched[room_id] = min(touched.get(room_id, now), now - DUE_LOOKBACK)
    yesterday = now - timedelta(days=1)
    report.days = rebuild_ranges({room_id: (min(earliest, yesterday), now) for room_id, earliest in touched.items()},
                                 now=now)
    return report


def recompute_rooms(room_ids: Iterable[int], now: datetime | None = None) -> int:
    """After bookings changed: their rooms' outcomes and RoomDays from ``CALENDAR_SYNC_DAYS_BACK`` days ago (a
    link's first sync fetches that far back) to the day after tomorrow."""
    now = now or timezone.now()
    room_ids = sorted(set(room_ids))
    start, end = now - timedelta(days=max(1, settings.CALENDAR_SYNC_DAYS_BACK)), now + timedelta(days=2)
    pipeline.recompute_outcomes(room_ids, start, end, now)
    return rebuild_between(room_ids, start, end, now=now)


def _cursor() -> int:
    return SignalCursor.objects.filter(name=pipeline.SPANS_CURSOR).values_list("last_id", flat=True).first() or 0


def _signal_rooms(after_id: int, up_to_id: int) -> dict[int, datetime]:
    """Rooms whose signals fold_new_signals just folded, with the earliest time their spans were rebuilt from."""
    rows = (OccupancySignal.objects.filter(pk__gt=after_id, pk__lte=up_to_id).values("room_id")
            .annotate(earliest=Min("observed_at")).values_list("room_id", "earliest"))
    return {room_id: earliest - pipeline.MAX_LAG for room_id, earliest in rows}


# --------------------------------------------------------------------------------------------------------
# Local days and hours as UTC instants
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    dates: list[date]
    day_edges: list[float]  # len(dates) + 1 local midnights
    hour_edges: list[float]  # every local hour start of the range, and its end
    hour_day: list[int]  # per hour bin: the index of its date
    hour_of_day: list[int]  # per hour bin: its local hour (0-23, repeated or skipped on DST days)


@lru_cache(maxsize=64)
def _grid(zone_name: str, first: date, last: date) -> _Grid:
    zone = ZoneInfo(zone_name)
    dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    day_edges = [datetime.combine(day, time(), tzinfo=zone).timestamp() for day in [*dates, last + timedelta(1)]]
    hour_edges, hour_day, hour_of_day = [], [], []
    for index, (start, end) in enumerate(zip(day_edges, day_edges[1:], strict=False)):
        # Step in quarter hours (every zone's offset is a multiple of one) and cut where the local clock shows
        # a full hour: that also handles half-hour offsets and half-hour DST shifts.
        for step in range(int((end - start) // 900)):
            moment = start + step * 900
            if step == 0 or datetime.fromtimestamp(moment, zone).minute == 0:
                hour_edges.append(moment)
                hour_day.append(index)
                hour_of_day.append(datetime.fromtimestamp(moment, zone).hour)
    hour_edges.append(day_edges[-1])
    return _Grid(dates, day_edges, hour_edges, hour_day, hour_of_day)


# --------------------------------------------------------------------------------------------------------
# Interval arithmetic on sorted, disjoint [start, end) lists (pure)
# --------------------------------------------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union as sorted, disjoint intervals (touching ones joined)."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The intersection of two sorted, disjoint interval lists."""
    result: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def spread(intervals: list[Interval], edges: list[float]) -> list[float]:
    """Seconds of sorted, disjoint ``intervals`` in each bin [edges[k], edges[k + 1])."""
    totals = [0.0] * (len(edges) - 1)
    first, last = 0, len(totals) - 1
    for start, end in intervals:
        # Both lists are sorted: one walk over the bins, never back.
        while first < last and edges[first + 1] <= start:
            first += 1
        index = first
        while index <= last and edges[index] < end:
            overlap = min(end, edges[index + 1]) - max(start, edges[index])
            if overlap > 0:
                totals[index] += overlap
            index += 1
    return totals


def _bins(start: float, end: float, edges: list[float]) -> range:
    """Indexes of the bins that [start, end) overlaps."""
    first = max(bisect_right(edges, start) - 1, 0)
    last = min(bisect_left(edges, end) - 1, len(edges) - 2)  # an interval ending on an edge stops before it
    if end <= edges[0] or start >= edges[-1] or last < first:
        return range(0)
    return range(first, last + 1)
