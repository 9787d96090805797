"""Rebuild spans, booking outcomes and RoomDays over a date range, e.g. after a data fix or a policy change."""

from __future__ import annotations

import multiprocessing
import sys
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone
from tqdm import tqdm

from occupancy import aggregates, pipeline
from spaces_calendar.core.models import Room, Tenant

MAX_DAYS = 400
MAX_WORKERS = 32


Totals = aggregates.RebuildTotals


class Command(BaseCommand):
    help = "Rebuild occupancy spans, booking outcomes and daily aggregates for local dates --from..--to."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="first local date, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last local date (inclusive), YYYY-MM-DD")
        parser.add_argument("--tenant", help="only this tenant's rooms (slug)")
        parser.add_argument("--rooms", nargs="+", type=int, metavar="ROOM_ID", help="only these rooms")
        parser.add_argument("--batch-size", type=int, default=50, help="rooms per batch (default 50)")
        parser.add_argument("--workers", type=int, default=1,
                            help="processes sharing the batches (default 1); on PostgreSQL, up to the cores the "
                                 "database can spare. A room's batch is serialised with other writers of its "
                                 "outcomes, so running beside the service is safe.")
        parser.add_argument("--keep-spans", action="store_true",
                            help="recompute outcomes and days from the stored spans, without fusing signals again "
                                 "(after a policy change). Days before OCCUPANCY_SIGNAL_RETENTION_DAYS, whose raw "
                                 "signals are pruned, always keep their spans.")

    def handle(self, *args, first: str, last: str, tenant: str | None, rooms: list[int] | None, batch_size: int,
               workers: int, keep_spans: bool, **options) -> None:
        first_date, last_date = parse_date(first, "--from"), parse_date(last, "--to")
        if last_date < first_date:
            raise CommandError(f"--to {last_date} is before --from {first_date}.")
        if (last_date - first_date).days >= MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days at a time: split the range.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not 1 <= workers <= MAX_WORKERS:
            raise CommandError(f"--workers must be between 1 and {MAX_WORKERS}.")
        room_ids = select_rooms(tenant, rooms)
        started, now = clock.perf_counter(), timezone.now()
        # call_command(stderr=...) hands the stream in options; tqdm needs the raw stream, not Django's wrapper.
        stream = options.get("stderr") or sys.stderr
        totals = Totals(rooms=len(room_ids))
        jobs = [(room_ids[index:index + batch_size], first_date, last_date, now, not keep_spans)
                for index in range(0, len(room_ids), batch_size)]
        with tqdm(total=len(room_ids), unit="room", desc="rebuild_occupancy", file=stream, mininterval=0.5) as bar:
            for done in run_jobs(jobs, workers):
                totals.add(done)
                bar.update(done.rooms)
        self.stdout.write(
            f"Rebuilt {totals.rooms} room(s) x {(last_date - first_date).days + 1} day(s) ({first_date}..{last_date}): "
            f"{totals.spans} spans, {totals.outcomes} outcomes ({totals.exempt} exempt, {totals.removed} removed), "
            f"{totals.days} room-days in {clock.perf_counter() - started:.1f} s."
        )


def parse_date(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{flag} {value!r} is not a date (YYYY-MM-DD).") from None


def select_rooms(tenant: str | None, rooms: list[int] | None) -> list[int]:
    queryset = Room.objects.all()
    if tenant is not None:
        if not Tenant.objects.filter(slug=tenant).exists():
            raise CommandError(f"No tenant with slug {tenant!r}.")
        queryset = queryset.filter(tenant__slug=tenant)
    if rooms:
        queryset = queryset.filter(pk__in=rooms)
        missing = set(rooms) - set(queryset.values_list("pk", flat=True))
        if missing:
            raise CommandError(f"Unknown room id(s){' in that tenant' if tenant else ''}: "
                               f"{', '.join(map(str, sorted(missing)))}.")
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def run_jobs(jobs: list[Job], workers: int) -> Iterator[Totals]:
    """Each job's totals as it finishes: here, or in ``workers`` forked processes (each opens its own database
    connection: the parent's are closed first, as a shared socket would mix their conversations)."""
    # Inside a transaction the workers could not see what it has not committed: then one process does it all.
    if workers == 1 or len(jobs) == 1 or any(conn.in_atomic_block for conn in connections.all()):
        yield from map(_run_job, jobs)
        return
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), initializer=_own_connections) as pool:
        yield from pool.imap_unordered(_run_job, jobs)


_inherited: list[object] = []


def _own_connections() -> None:
    """In a forked worker: never talk over a database socket inherited from the parent (two processes on one
    session garble both). The parent closes its connections before forking; should one still be open, it is set
    aside unclosed (closing it would end the parent's session; pool workers leave with os._exit, which closes
    nothing) and the worker opens its own."""
    for conn in connections.all():
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None


Job = tuple[list[int], date, date, datetime, bool]


def _run_job(job: Job) -> Totals:
    room_ids, first, last, now, spans = job
    totals = Totals(rooms=len(room_ids))
    try:
        rebuild_batch(room_ids, first, last, now, totals, spans=spans)
    finally:
        if multiprocessing.parent_process() is not None:
            connections.close_all()
    return totals


def rebuild_batch(room_ids: list[int], first: date, last: date, now: datetime, totals: Totals, *,
                  spans: bool = True) -> None:
    start, end = utc_range(room_ids, first, last)
    # Before the signal horizon the raw signals are pruned: fusing there would replace real spans with "unknown",
    # so those days keep their spans. A day per rebuild_spans call keeps what one call reads small (a room sends
    # thousands of signals a day).
    day = max(start, pipeline.signal_horizon(now))
    while spans and day < end:
        totals.spans += pipeline.rebuild_spans(room_ids, day, min(day + timedelta(days=1), end))
        day += timedelta(days=1)
    totals.add_outcomes(pipeline.recompute_outcomes(room_ids, start, end, now))
    totals.days += aggregates.rebuild_days(room_ids, first, last, now=now)


def utc_range(room_ids: list[int], first: date, last: date) -> tuple[datetime, datetime]:
    """From the earliest local midnight of ``first`` to the latest one after ``last`` among the rooms' zones."""
    zones = {ZoneInfo(room.zone) for room in aggregates.room_infos(room_ids)} or {ZoneInfo("UTC")}
    start = min(datetime.combine(first, time(), tzinfo=zone) for zone in zones)
    end = max(datetime.combine(last + timedelta(days=1), time(), tzinfo=zone) for zone in zones)
    return start.astimezone(UTC), end.astimezone(UTC)
