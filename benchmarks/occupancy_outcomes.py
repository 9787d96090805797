"""Booking outcomes and daily aggregates for N rooms x D days: the batched pipeline vs naive per-row work.

Run from the project root:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python -m benchmarks.occupancy_outcomes
    .venv/bin/python -m benchmarks.occupancy_outcomes --rooms 50 --days 14        # a quick run on SQLite
It generates a tenant of ``--rooms`` rooms (Europe/Oslo) with ``--days`` days of bookings (5-6 per room and day in
office hours, ~15 % ghosts, ~8 % late starts, ~7 % early ends, 2 % of room-days without data) and the fused
occupied / empty / unknown spans they would have produced, loaded with COPY on PostgreSQL (multi-row INSERTs on
SQLite). Then, in the same run: (a) every outcome from scratch with ``pipeline.recompute_outcomes`` over batches of
rooms, in one process and again shared by ``--workers`` processes, against a naive loop (one span query, classify,
one INSERT per booking) timed on a sample and extrapolated; (b) ``aggregates.rebuild_days`` over the whole range;
(c) the per-room ghost and utilisation report read from RoomDay, against the same figures computed from the raw
bookings and spans. The timings are printed, never asserted. An external DATABASE_URL gets its own tenant, deleted
at the end; the data folder is a throwaway one.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import multiprocessing
import os
import pstats
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Oslo")
MINUTE = timedelta(minutes=1)
DURATIONS = [30, 30, 45, 60, 60, 60, 90, 120]  # minutes, weighted towards the hour
GHOST, LATE, EARLY = 0.15, 0.08, 0.07  # shares of bookings; the rest attended
UNKNOWN_DAYS = 0.02  # room-days with no data at all (sensor offline)
BOOKING_COLUMNS = ["room_id", "external_id", "ical_uid", "series_id", "subject", "organizer_hash", "start", "end",
                   "all_day", "private", "cancelled", "updated_at"]
SPAN_COLUMNS = ["tenant_id", "room_id", "start", "end", "state", "peak_people", "median_people", "sources"]


@dataclass
class Row:
    step: str
    rows: int
    seconds: float
    unit: str
    target: str = ""
    verdict: str = ""
    note: str = ""


@dataclass
class Run:
    tenant_id: int
    room_ids: list[int]
    first: date
    last: date
    start: datetime
    end: datetime
    now: datetime
    bookings: int = 0
    spans: int = 0
    table: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------
# Set-up: Django, the tenant
# --------------------------------------------------------------------------------------------------------


def setup_django(data_dir: Path) -> None:
    """Settings read the environment once, in django.setup(): point them at a throwaway data folder."""
    os.environ.update(SPACES_DATA_DIR=str(data_dir), SANDBOX="false", DEBUG="false")  # DEBUG keeps every query
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if os.environ.get("DATABASE_URL"):
        # An external database needs these from the environment; the benchmark encrypts nothing it keeps.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_tenant(rooms: int, rng: random.Random) -> tuple[int, list[tuple[int, int]]]:
    """A tenant in Oslo with ``rooms`` rooms: its id and (room id, capacity) per room."""
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    slug = f"bench-occ-{secrets.token_hex(4)}"
    tenant = Tenant.objects.create(name="Occupancy benchmark", slug=slug, time_zone=ZONE.key)
    building = Building.objects.create(tenant=tenant, name="HQ", time_zone=ZONE.key)
    floors = [Floor.objects.create(building=building, name=str(n), level=n) for n in range(10)]
    # bulk_create skips Room.save(), which is what fills in tenant: set it here.
    Room.objects.bulk_create(
        Room(tenant=tenant, floor=floors[n % 10], name=f"Room {n:05d}", email=f"room{n:05d}@{slug}.example.com",
             capacity=rng.choice([4, 6, 8, 10, 12, 20]))
        for n in range(rooms))
    return tenant.pk, list(Room.objects.filter(tenant=tenant).order_by("pk").values_list("pk", "capacity"))


# --------------------------------------------------------------------------------------------------------
# Generation: one room's bookings and the spans they leave behind (pure)
# --------------------------------------------------------------------------------------------------------


def room_rows(rng: random.Random, tenant_id: int, room_id: int, capacity: int, dates: list[date],
              now: datetime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    bookings, spans = [], []
    organizers = [f"{rng.getrandbits(128):032x}" for _ in range(12)]
    for day in dates:
        day_start = datetime.combine(day, wall(), tzinfo=ZONE).astimezone(UTC)
        day_end = datetime.combine(day + timedelta(1), wall(), tzinfo=ZONE).astimezone(UTC)
        office = datetime.combine(day, wall(8), tzinfo=ZONE).astimezone(UTC)
        occupied: list[tuple[datetime, datetime]] = []
        for slot, (start, end) in enumerate(day_slots(rng, office)):
            external = f"{room_id}-{day.isoformat()}-{slot}"
            series = f"series-{room_id}-{slot}" if slot < 2 else ""  # the first two slots recur daily
            bookings.append((room_id, external, "", series, "", rng.choice(organizers), start, end,
                             False, False, False, now))
            occupied += presence(rng, start, end)
        if rng.random() < 0.2:  # someone uses the room without booking it
            walk_in = office + timedelta(minutes=rng.choice([600, 630, 660]))
            occupied.append((walk_in, walk_in + 30 * MINUTE))
        if rng.random() < UNKNOWN_DAYS:
            spans.append((tenant_id, room_id, day_start, day_end, "unknown", None, None, ""))
        else:
            spans += timeline(rng, tenant_id, room_id, capacity, day_start, day_end, occupied)
    return bookings, spans


def day_slots(rng: random.Random, office: datetime) -> Iterator[tuple[datetime, datetime]]:
    """5-6 bookings from 08:00, on a quarter-hour grid, mostly back to back, sometimes double-booked."""
    cursor = office + rng.choice([0, 0, 15, 30]) * MINUTE
    for _ in range(rng.choice([5, 6])):
        duration = rng.choice(DURATIONS) * MINUTE
        start = cursor - 15 * MINUTE if rng.random() < 0.03 else cursor
        yield start, start + duration
        cursor = start + duration + rng.choice([0, 0, 15, 30]) * MINUTE


def presence(rng: random.Random, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """When people were in the room for a booking, by the outcome this booking is meant to have."""
    duration = end - start
    draw = rng.random()
    if draw < GHOST:
        return []
    if draw < GHOST + LATE:
        return [(start + rng.randint(15, 25) * MINUTE, end)]
    if draw < GHOST + LATE + EARLY:
        return [(start + rng.randint(0, 3) * MINUTE, start + duration * 0.4)]
    return [(start + rng.randint(-5, 5) * MINUTE, end - rng.randint(0, 5) * MINUTE)]


def timeline(rng: random.Random, tenant_id: int, room_id: int, capacity: int, day_start: datetime,
             day_end: datetime, occupied: list[tuple[datetime, datetime]]) -> list[tuple[Any, ...]]:
    """Contiguous spans over the day: the occupied stretches (merged), empty in between."""
    spans, cursor = [], day_start
    for start, end in merged(occupied):
        if start > cursor:
            spans.append((tenant_id, room_id, cursor, start, "empty", 0, None, "spaces_occupancy"))
        peak = rng.randint(1, capacity)
        spans.append((tenant_id, room_id, start, end, "occupied", peak, max(1.0, peak * 0.7), "spaces_occupancy"))
        cursor = end
    if cursor < day_end:
        spans.append((tenant_id, room_id, cursor, day_end, "empty", 0, None, "spaces_occupancy"))
    return spans


def merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------


def load(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL; one multi-row INSERT per 500 rows elsewhere (SQLite's variable limit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in columns)
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        quoted = ", ".join(f'"{name}"' for name in columns)
        for index in range(0, len(rows), 500):
            chunk = rows[index:index + 500]
            cursor.execute(f"INSERT INTO {table} ({quoted}) VALUES {', '.join([marks] * len(chunk))}",  # noqa: S608
                           [value for row in chunk for value in row])


def generate(args: argparse.Namespace) -> Run:
    """The tenant, its bookings and spans; times generation and loading separately."""
    from django.db import connection, transaction
    from django.utils import timezone

    from occupancy.models import OccupancySpan
    from spaces_calendar.calendars.models import Booking

    rng = random.Random(args.seed)
    now = timezone.now()
    today = now.astimezone(ZONE).date()
    first, last = today - timedelta(days=args.days), today - timedelta(days=1)  # all over: every outcome final
    dates = [first + timedelta(n) for n in range(args.days)]
    tenant_id, rooms = make_tenant(args.rooms, rng)
    run = Run(tenant_id, [pk for pk, _ in rooms], first, last,
              datetime.combine(first, wall(), tzinfo=ZONE).astimezone(UTC),
              datetime.combine(last + timedelta(1), wall(), tzinfo=ZONE).astimezone(UTC), now)
    generating = loading = 0.0
    print(f"generating {args.rooms} rooms x {args.days} days ...", file=sys.stderr, flush=True)
    for index in range(0, len(rooms), 100):
        started = time.perf_counter()
        bookings, spans = [], []
        for room_id, capacity in rooms[index:index + 100]:
            room_bookings, room_spans = room_rows(rng, tenant_id, room_id, capacity, dates, now)
            bookings += room_bookings
            spans += room_spans
        generating += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            load(Booking._meta.db_table, BOOKING_COLUMNS, bookings)
            load(OccupancySpan._meta.db_table, SPAN_COLUMNS, spans)
        loading += time.perf_counter() - started
        run.bookings += len(bookings)
        run.spans += len(spans)
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh planner statistics, as autovacuum would have by now
            cursor.execute(f"ANALYZE {Booking._meta.db_table}, {OccupancySpan._meta.db_table}")
    loading += time.perf_counter() - started
    rows = run.bookings + run.spans
    run.table.append(Row("generate bookings + spans (Python)", rows, generating, "rows"))
    run.table.append(Row(f"load them ({'COPY + ANALYZE' if connection.vendor == 'postgresql' else 'INSERT'})",
                         rows, loading, "rows"))
    return run


# --------------------------------------------------------------------------------------------------------
# (a) Outcomes
# --------------------------------------------------------------------------------------------------------


def engine_outcomes(run: Run, batch: int, profile: bool) -> None:
    from occupancy import pipeline

    outcomes = exempt = 0
    started = time.perf_counter()
    for index in range(0, len(run.room_ids), batch):
        rooms = run.room_ids[index:index + batch]
        if profile and index == 0:
            report = profiled(lambda rooms=rooms: pipeline.recompute_outcomes(rooms, run.start, run.end, run.now))
        else:
            report = pipeline.recompute_outcomes(rooms, run.start, run.end, run.now)
        outcomes += report.outcomes
        exempt += report.exempt
    seconds = time.perf_counter() - started
    rate = run.bookings / seconds
    run.table.append(Row(f"(a) recompute_outcomes, {batch} rooms per call", run.bookings, seconds, "bookings",
                         ">= 20,000 bookings/s", "met" if rate >= 20_000 else "missed",
                         f"{outcomes:,} outcomes, {exempt} exempt"))


def parallel_outcomes(run: Run, batch: int, workers: int) -> None:
    """The same batches from scratch, shared by ``workers`` forked processes (each its own connection; one
    database), as ``manage.py rebuild_occupancy --workers N`` shares a rebuild."""
    from django.db import connection, connections

    from occupancy.models import BookingOutcome

    BookingOutcome.objects.filter(tenant_id=run.tenant_id).delete()
    if connection.vendor == "postgresql":
        # From scratch means what the single-process run found: a table without half a million dead rows, which
        # autovacuum would otherwise be cleaning up on the same two cores while the workers run.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {BookingOutcome._meta.db_table}")
    connections.close_all()  # each forked worker must open its own connection, not share the parent's socket
    batches = [(run.room_ids[index:index + batch], run.start, run.end, run.now)
               for index in range(0, len(run.room_ids), batch)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        outcomes = sum(pool.map(_recompute_batch, batches, chunksize=1))
    seconds = time.perf_counter() - started
    rate = run.bookings / seconds
    run.table.append(Row(f"(a) recompute_outcomes, {batch} rooms per call, {workers} processes", run.bookings,
                         seconds, "bookings", ">= 20,000 bookings/s", "met" if rate >= 20_000 else "missed",
                         f"{outcomes:,} outcomes"))


def _recompute_batch(job: tuple[list[int], datetime, datetime, datetime]) -> int:
    from django.db import connections

    from occupancy import pipeline

    try:
        return pipeline.recompute_outcomes(*job).outcomes
    finally:
        connections.close_all()


def profiled(call: Callable[[], Any]) -> Any:
    profile = cProfile.Profile()
    result = profile.runcall(call)
    print("\nprofile of the first recompute_outcomes batch (top 25 by own time):", file=sys.stderr)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return result


def naive_outcomes(run: Run, sample_size: int, rng: random.Random) -> None:
    """Per booking: one query for its spans, classify, one INSERT. Given the policies up front (its best case)."""
    from occupancy import pipeline
    from occupancy.fusion import Span
    from occupancy.models import BookingOutcome, OccupancySpan
    from occupancy.outcomes import classify, is_exempt
    from spaces_calendar.calendars.models import Booking

    pks = list(Booking.objects.filter(room_id__in=run.room_ids).values_list("pk", flat=True))
    sample = rng.sample(pks, min(sample_size, len(pks)))
    engine = dict(BookingOutcome.objects.filter(booking_id__in=sample).values_list("booking_id", "outcome"))
    BookingOutcome.objects.filter(booking_id__in=sample).delete()
    rules = pipeline.policies(run.room_ids)
    rows = list(Booking.objects.filter(pk__in=sample).values_list(
        "pk", "room_id", "start", "end", "all_day", "cancelled", "series_id", "organizer_hash"))
    started = time.perf_counter()
    for pk, room_id, start, end, all_day, cancelled, series, organizer in rows:
        policy = rules[room_id]
        if cancelled or is_exempt(start, end, all_day, policy):
            continue
        spans = [Span(s, e, state, peak, [median] if median is not None else [], set(sources.split(",")))
                 for s, e, state, peak, median, sources in OccupancySpan.objects.filter(
                     room_id=room_id, start__lt=end, end__gt=start).order_by("start").values_list(
                     "start", "end", "state", "peak_people", "median_people", "sources")]
        result = classify(start, end, spans, run.now, policy)
        if result is None:
            continue
        BookingOutcome.objects.create(
            booking_id=pk, tenant_id=run.tenant_id, room_id=room_id, start=start, end=end, outcome=result.outcome,
            final=result.final, first_presence_at=result.first_presence_at, peak_people=result.peak_people,
            median_people=result.median_people, occupied_minutes=result.occupied_minutes,
            unknown_minutes=result.unknown_minutes, series_id=series, organizer_hash=organizer,
            evidence=result.evidence(), computed_at=run.now)
    seconds = time.perf_counter() - started
    naive = dict(BookingOutcome.objects.filter(booking_id__in=sample).values_list("booking_id", "outcome"))
    same = sum(naive.get(pk) == outcome for pk, outcome in engine.items())
    extrapolated = seconds / len(rows) * run.bookings
    run.table.append(Row(f"(a) naive, per booking (measured on {len(rows):,})", len(rows), seconds, "bookings",
                         note=f"same outcome as the engine: {same:,}/{len(engine):,}"))
    run.table.append(Row(f"(a) naive, extrapolated to all {run.bookings:,}", run.bookings, extrapolated, "bookings",
                         note="extrapolated, not measured"))


# --------------------------------------------------------------------------------------------------------
# (b) RoomDay, (c) the report
# --------------------------------------------------------------------------------------------------------


def room_days(run: Run) -> None:
    from occupancy import aggregates

    started = time.perf_counter()
    written = aggregates.rebuild_days(run.room_ids, run.first, run.last, now=run.now)
    seconds = time.perf_counter() - started
    run.table.append(Row("(b) rebuild_days, whole range", written, seconds, "room-days",
                         note=f"{run.bookings / seconds:,.0f} bookings/s, {run.spans / seconds:,.0f} spans/s"))


@dataclass(frozen=True)
class RoomFigures:
    bookings: int
    ghosts: int
    unknowns: int
    booked_h: float
    occupied_h: float
    occupied_booked_h: float
    recoverable_h: float
    covered_h: float

    @property
    def ghost_rate(self) -> float:
        """Ghosts among the bookings we could call (unknowns left out: no data says nothing)."""
        return self.ghosts / max(self.bookings - self.unknowns, 1)

    def rounded(self) -> tuple[Any, ...]:
        return (self.bookings, self.ghosts, self.unknowns, *(round(value, 1) for value in (
            self.booked_h, self.occupied_h, self.occupied_booked_h, self.recoverable_h, self.covered_h)))


def report_from_room_days(run: Run) -> dict[int, RoomFigures]:
    """One aggregate query over RoomDay: per-room totals for the range."""
    from django.db.models import Sum

    from occupancy.models import RoomDay

    rows = (RoomDay.objects.filter(tenant_id=run.tenant_id, date__range=(run.first, run.last)).values("room_id")
            .annotate(b=Sum("bookings"), g=Sum("ghosts"), u=Sum("unknowns"), booked=Sum("booked_minutes"),
                      occ=Sum("occupied_minutes"), ob=Sum("occupied_booked_minutes"),
                      rec=Sum("recoverable_minutes"), cov=Sum("covered_booked_minutes"))
            .order_by("room_id"))
    return {row["room_id"]: RoomFigures(row["b"], row["g"], row["u"], row["booked"] / 60, row["occ"] / 60,
                                        row["ob"] / 60, row["rec"] / 60, row["cov"] / 60) for row in rows}


def report_from_raw(run: Run) -> dict[int, RoomFigures]:
    """The same figures from bookings, outcomes and spans, room by room, at request time."""
    from datetime import datetime as dt

    from django.db.models.fields.json import KeyTextTransform

    from occupancy.aggregates import intersect, merge
    from occupancy.models import OccupancySpan
    from spaces_calendar.calendars.models import Booking

    low, high = run.start.timestamp(), run.end.timestamp()
    figures = {}
    for room_id in run.room_ids:
        bookings = list(Booking.objects.filter(room_id=room_id, cancelled=False, start__lt=run.end, end__gt=run.start)
                        .annotate(last=KeyTextTransform("last_presence_at", "outcome__evidence"))
                        .values_list("start", "end", "outcome__outcome", "last"))
        spans = list(OccupancySpan.objects.filter(room_id=room_id, start__lt=run.end, end__gt=run.start)
                     .values_list("start", "end", "state"))
        clip = [(max(s.timestamp(), low), min(e.timestamp(), high)) for s, e, _, _ in bookings]
        booked = merge(clip)
        occupied = merge((max(s.timestamp(), low), min(e.timestamp(), high)) for s, e, st in spans if st == "occupied")
        known = merge((max(s.timestamp(), low), min(e.timestamp(), high)) for s, e, st in spans if st != "unknown")
        counted = [(s, e, outcome, last) for s, e, outcome, last in bookings if run.start <= s < run.end]
        recoverable = sum((e - s).total_seconds() for s, e, outcome, _ in counted if outcome == "ghost")
        recoverable += sum(max((e - dt.fromisoformat(last)).total_seconds(), 0)
                           for s, e, outcome, last in counted if outcome == "early_end" and last)
        figures[room_id] = RoomFigures(
            len(counted), sum(outcome == "ghost" for *_, outcome, _ in counted),
            sum(outcome == "unknown" for *_, outcome, _ in counted), hours(booked), hours(occupied),
            hours(intersect(occupied, booked)), recoverable / 3600, hours(intersect(known, booked)))
    return figures


def hours(intervals: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in intervals) / 3600


def reports(run: Run) -> None:
    timings = []
    for _ in range(3):  # the first is cold (planner, caches): show the spread rather than the best
        started = time.perf_counter()
        fast = report_from_room_days(run)
        ranked = sorted(fast.items(), key=lambda item: item[1].ghost_rate, reverse=True)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    slow = report_from_raw(run)
    naive_s = time.perf_counter() - started
    same = sum(fast[room].rounded() == slow[room].rounded() for room in run.room_ids if room in fast)
    spread = " / ".join(f"{t * 1000:.0f} ms" for t in timings)
    run.table.append(Row("(c) report from RoomDay (1 aggregate query)", len(fast), timings[0], "rooms", "< 1 s",
                         "met" if max(timings) < 1 else "missed", f"3 runs: {spread}"))
    run.table.append(Row("(c) report from raw bookings + spans", len(slow), naive_s, "rooms",
                         note=f"same figures as RoomDay: {same}/{len(run.room_ids)} rooms"))
    total = RoomFigures(*(sum(getattr(f, name) for f in fast.values()) for name in RoomFigures.__dataclass_fields__))
    run.notes.append(
        f"report: {total.bookings:,} bookings, ghost rate {total.ghost_rate:.1%} (worst room "
        f"{ranked[0][1].ghost_rate:.1%}), booked {total.booked_h:,.0f} h, occupied {total.occupied_h:,.0f} h "
        f"(booked {total.occupied_booked_h:,.0f} h, unbooked {total.occupied_h - total.occupied_booked_h:,.0f} h), "
        f"utilisation {total.occupied_booked_h / total.booked_h:.1%}, recoverable {total.recoverable_h:,.0f} h, "
        f"coverage {total.covered_h / total.booked_h:.1%}")


def outcome_mix(run: Run) -> None:
    from django.db.models import Count

    from occupancy.models import BookingOutcome

    mix = dict(BookingOutcome.objects.filter(tenant_id=run.tenant_id).values_list("outcome")
               .annotate(n=Count("pk")).values_list("outcome", "n"))
    total = sum(mix.values()) or 1
    run.notes.append("outcomes: " + ", ".join(f"{name} {count:,} ({count / total:.1%})"
                                              for name, count in sorted(mix.items())))


# --------------------------------------------------------------------------------------------------------
# Clean-up and reporting
# --------------------------------------------------------------------------------------------------------


def cleanup(tenant_id: int) -> None:
    """Remove the benchmark's tenant from a database we do not own, in plain DELETEs (Django's cascade would load
    half a million bookings to delete them one relation at a time)."""
    from django.db import connection, transaction

    from occupancy.models import BookingOutcome, OccupancySpan, RoomDay
    from spaces_calendar.calendars.models import Booking
    from spaces_calendar.core.models import Building, Room, Tenant

    rooms = f"SELECT id FROM {Room._meta.db_table} WHERE tenant_id = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (BookingOutcome, RoomDay, OccupancySpan, Booking):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE room_id IN ({rooms})", [tenant_id])  # noqa: S608
        Room.objects.filter(tenant_id=tenant_id).delete()
        Building.objects.filter(tenant_id=tenant_id).delete()
        Tenant.objects.filter(pk=tenant_id).delete()


def step(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text} ...", file=sys.stderr, flush=True)


def print_table(run: Run, args: argparse.Namespace, database: str) -> None:
    print(f"rooms: {args.rooms}  days: {args.days} ({run.first}..{run.last})  bookings: {run.bookings:,}  "
          f"spans: {run.spans:,}  database: {database}")
    print("| step | rows | time | rate | target | result | note |")
    print("|---|---|---|---|---|---|---|")
    for row in run.table:
        rate = f"{row.rows / row.seconds:,.0f} {row.unit}/s" if row.seconds else "-"
        print(f"| {row.step} | {row.rows:,} | {row.seconds:.2f} s | {rate} | {row.target} | {row.verdict} "
              f"| {row.note} |")
    for note in run.notes:
        print(note)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--batch", type=int, default=100, help="rooms per recompute_outcomes call")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4),
                        help="processes for the parallel outcome run (1: skip it)")
    parser.add_argument("--sample", type=int, default=2000, help="bookings the naive outcome loop is timed on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the first recompute_outcomes batch")
    parser.add_argument("--keep", action="store_true", help="leave the tenant in an external database, to dig in")
    args = parser.parse_args()
    if min(args.rooms, args.days, args.batch, args.sample, args.workers) < 1:
        parser.error("--rooms, --days, --batch, --sample and --workers must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-occupancy-"))
    run = None
    try:
        setup_django(data_dir)
        from django.db import connection

        run = generate(args)
        step("(a) recompute_outcomes over every batch of rooms")
        engine_outcomes(run, args.batch, args.profile)
        if args.workers > 1:
            step(f"(a) recompute_outcomes again from scratch, in {args.workers} processes")
            parallel_outcomes(run, args.batch, args.workers)
        outcome_mix(run)
        step(f"(a) the naive loop on {args.sample:,} bookings")
        naive_outcomes(run, args.sample, random.Random(args.seed))
        step("(b) rebuild_days")
        room_days(run)
        step("(c) the report, from RoomDay and from the raw rows")
        reports(run)
        print_table(run, args, connection.vendor)
    finally:
        if run is not None and os.environ.get("DATABASE_URL") and not args.keep:
            cleanup(run.tenant_id)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
