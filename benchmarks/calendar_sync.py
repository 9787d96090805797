"""Daily sync of N linked rooms against the fake Graph with added latency: batched engine vs a naive loop.

Run from the project root:  .venv/bin/python -m benchmarks.calendar_sync [--rooms 1000 --events 10 --latency-ms 50]
FakeMicrosoft (Entra login + Graph over TLS on the loopback) runs in a child process, as Graph runs on
someone else's computer, and answers every request ``--latency-ms`` late; the data lives in a throwaway
SQLite file in a fresh data folder. With
DATABASE_URL set (a scratch PostgreSQL database) the script adds its own tenant there and deletes it at the end.
Each approach starts from the same state (every link due, no delta state, no bookings) and must end with the same
booking rows. Each runs twice: once timed, once under tracemalloc for the Python heap peak (tracemalloc about
doubles the cost of Python code, and the engine is CPU-bound where the baseline waits on the network, so a traced
run would understate the speed-up). The timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import math
import multiprocessing
import os
import queue
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox.harness import Fault, ca_bundle_path

if TYPE_CHECKING:
    from spaces_calendar.calendars.models import CalendarConnection
    from spaces_calendar.calendars.sync import SyncReport

#: Room-pages one $batch may carry (Graph's limit), the unit of the "requests per 20 rooms per page" target;
#: rounded up, so 30 rooms in 2 batches count as 1 request per 20 (no client can do better).
BATCH_SIZE = 20
BookingKey = tuple[Any, ...]


@dataclass
class Traffic:
    """Request counts read from the fake's logs (login: OIDC discovery + token; Graph: what reached /v1.0)."""

    login: int
    token: int
    graph: int
    batch_posts: int
    batch_items: int

    def __sub__(self, other: Traffic) -> Traffic:
        return Traffic(**{name: value - getattr(other, name) for name, value in asdict(self).items()})

    @property
    def room_pages(self) -> int:
        """Pages of room calendars fetched, whether inside a $batch or one request each."""
        return self.batch_items + self.graph - self.batch_posts


@dataclass
class Outcome:
    approach: str
    wall_s: float
    login_requests: int
    token_requests: int
    graph_requests: int
    batch_items: int
    room_pages: int
    graph_requests_per_20_room_pages: float
    synced: int
    failed: int
    bookings: int
    same_bookings_as_naive: bool | None
    tracemalloc_peak_mib: float | None
    rss_start_mib: float
    rss_peak_mib: float
    #: False where the kernel would not reset the high-water mark: rss_peak_mib then includes earlier phases.
    rss_peak_per_phase: bool


class Progress:
    """Plain progress lines on stderr: the project has no progress-bar library, and a line per 10 % is enough."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.started = time.perf_counter()
        self._next = max(total // 10, 1)
        self._lock = threading.Lock()

    def step(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            if self.done < self._next and self.done < self.total:
                return
            self._next += max(self.total // 10, 1)
            elapsed = time.perf_counter() - self.started
            print(f"  {self.label}: {self.done}/{self.total} rooms, {elapsed:.1f} s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------
# Set-up: the fake, Django, the data
# --------------------------------------------------------------------------------------------------------


class RemoteFake:
    """FakeMicrosoft in a child process, driven over a pipe.

    Graph is somebody else's computer: run in our process, the fake's JSON and TLS work would compete with the
    engine for the same interpreter and be billed to the approach being measured.
    """

    def __init__(self, latency_s: float):
        ca_bundle_path()  # create the test CA before forking, so the child serves certificates from it
        self._pipe, child = multiprocessing.get_context("fork").Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve_fake, args=(child, latency_s), daemon=True)
        self._process.start()
        urls = self._call("urls")
        self.login_url, self.graph_url = urls["login"], urls["graph"]
        self.client_id, self.client_secret, self.tenant_id = urls["client_id"], urls["client_secret"], urls["tenant"]

    def _call(self, command: str, *args: Any) -> Any:
        self._pipe.send((command, args))
        ok, value = self._pipe.recv()
        if not ok:
            raise RuntimeError(f"fake Graph process: {value}")
        return value

    def seed(self, emails: list[str], slots: list[tuple[datetime, datetime]]) -> None:
        self._call("seed", emails, slots)

    def traffic(self) -> Traffic:
        return Traffic(**self._call("traffic"))

    def raise_errors(self) -> None:
        self._call("raise_errors")

    def stop(self) -> None:
        if self._process.is_alive():
            self._call("stop")
        self._process.join(10)


def _serve_fake(pipe: Any, latency_s: float) -> None:
    fake = FakeMicrosoft().start()
    if latency_s > 0:
        # One queued fault that never runs out delays every request; both servers, as both cross the network.
        for server in (fake.login, fake.graph):
            server.add_fault(Fault(delay=latency_s), times=sys.maxsize)
    while True:
        command, args = pipe.recv()
        try:
            if command == "urls":
                result: Any = {"login": fake.login_url, "graph": fake.graph_url, "client_id": fake.client_id,
                               "client_secret": fake.client_secret, "tenant": fake.tenant_id}
            elif command == "seed":
                emails, slots = args
                for email in emails:
                    fake.add_room(email, email.split("@")[0], capacity=8)
                    for n, (start, end) in enumerate(slots):
                        fake.add_event(email, f"Meeting {n}", start, end)
                result = len(emails)
            elif command == "traffic":
                result = asdict(Traffic(
                    login=len(fake.login.requests), token=len(fake.token_requests()), graph=len(fake.graph.requests),
                    batch_posts=len(fake.graph.requests_to("/v1.0/$batch", "POST")), batch_items=len(fake.batch_log),
                ))
            elif command == "raise_errors":
                fake.login.raise_errors()
                fake.graph.raise_errors()
                result = None
            elif command == "stop":
                fake.stop()
                pipe.send((True, None))
                return
            else:
                raise ValueError(f"unknown command {command!r}")
            pipe.send((True, result))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
            pipe.send((False, repr(error)))


def start_fake(latency_s: float) -> RemoteFake:
    return RemoteFake(latency_s)


def setup_django(fake: RemoteFake, data_dir: Path) -> None:
    """Point settings at the fake through the environment: settings read it once, in django.setup()."""
    os.environ.update(
        SPACES_DATA_DIR=str(data_dir),
        SANDBOX="false",
        # DEBUG keeps every SQL query in memory, which would swamp the memory figures.
        DEBUG="false",
        MICROSOFT_LOGIN_URL=fake.login_url,
        MICROSOFT_GRAPH_URL=fake.graph_url,
        MICROSOFT_CLIENT_ID=fake.client_id,
        MICROSOFT_CLIENT_SECRET=fake.client_secret,
        OUTBOUND_CA_BUNDLE=ca_bundle_path(),
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the engine logs a line per chunk at INFO
    if os.environ.get("DATABASE_URL"):
        # An external database needs these from the environment; the benchmark encrypts nothing it keeps.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def event_times(day: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` non-overlapping naive UTC slots spread over ``day``, all inside the sync window."""
    slot = timedelta(minutes=max((24 * 60) // max(count, 1), 2))
    return [(day + slot * n, day + slot * n + slot / 2) for n in range(count)]


def seed(fake: RemoteFake, rooms: int, events: int) -> CalendarConnection:
    """A tenant with ``rooms`` rooms, each linked to a fake room mailbox holding ``events`` events tomorrow."""
    from django.utils import timezone

    from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, ConnectionStatus, Provider
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    slug = f"bench-sync-{secrets.token_hex(4)}"
    tenant = Tenant.objects.create(name="Sync benchmark", slug=slug, time_zone="UTC")
    floor = Floor.objects.create(building=Building.objects.create(tenant=tenant, name="HQ", time_zone="UTC"),
                                 name="1", level=1)
    # bulk_create skips Room.save(), which is what fills in tenant: set it here.
    Room.objects.bulk_create(
        Room(tenant=tenant, floor=floor, name=f"Room {n:05d}", email=f"room{n:05d}@{slug}.example.com", capacity=8)
        for n in range(rooms)
    )
    connection = CalendarConnection.objects.create(
        tenant=tenant, provider=Provider.MICROSOFT, external_tenant_id=fake.tenant_id,
        status=ConnectionStatus.ACTIVE, consented_at=timezone.now(),
    )
    room_rows = list(Room.objects.filter(tenant=tenant).order_by("name"))
    CalendarLink.objects.bulk_create(
        CalendarLink(connection=connection, room=room, external_calendar_id=room.email) for room in room_rows
    )
    tomorrow = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    fake.seed([room.email for room in room_rows], event_times(tomorrow, events))
    return connection


def reset(connection: CalendarConnection) -> None:
    """The state a daily sync starts from: every link due, no delta state, no bookings yet."""
    from django.utils import timezone

    from spaces_calendar.calendars.models import Booking, CalendarLink

    Booking.objects.filter(link__connection=connection).delete()
    CalendarLink.objects.filter(connection=connection).update(
        next_sync_at=timezone.now(), sync_state="", sync_window_start=None, sync_window_end=None,
        claimed_until=None, claim_token="", failures=0,
    )


def cleanup(connection: CalendarConnection) -> None:
    """Remove the benchmark's tenant from a database we do not own (rooms first: a floor protects its rooms)."""
    from spaces_calendar.core.models import Room

    tenant = connection.tenant
    Room.objects.filter(tenant=tenant).delete()
    tenant.delete()


# --------------------------------------------------------------------------------------------------------
# The approaches
# --------------------------------------------------------------------------------------------------------


def claim_all() -> list[tuple[str, list[int]]]:
    """Everything due, as the beat task claims it (claim_due caps one call, so repeat until nothing is left)."""
    from django.utils import timezone

    from spaces_calendar.calendars.sync import claim_due

    now, chunks = timezone.now(), []
    while claimed := claim_due(now):
        chunks += claimed
    return chunks


def engine_sequential(rooms: int) -> list[SyncReport]:
    """Every chunk in turn in this process: what a single worker slot would do, the conservative figure."""
    from spaces_calendar.calendars.sync import sync_claimed

    progress = Progress("engine, 1 worker", rooms)
    reports = []
    for token, link_ids in claim_all():
        reports.append(sync_claimed(token, link_ids))
        progress.step(len(link_ids))
    return reports


def engine_threaded(rooms: int, workers: int) -> list[SyncReport]:
    """Chunks shared by ``workers`` threads, standing in for that many Celery worker processes."""
    todo: queue.SimpleQueue[tuple[str, list[int]]] = queue.SimpleQueue()
    for chunk in claim_all():
        todo.put(chunk)
    progress = Progress(f"engine, {workers} workers", rooms)
    reports: list[SyncReport] = []
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_worker, args=(todo, progress, reports, errors)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return reports


def _worker(todo: queue.SimpleQueue[tuple[str, list[int]]], progress: Progress, reports: list[SyncReport],
            errors: list[BaseException]) -> None:
    from django.db import connections

    from spaces_calendar.calendars.sync import sync_claimed

    try:
        while True:
            try:
                token, link_ids = todo.get_nowait()
            except queue.Empty:
                return
            reports.append(sync_claimed(token, link_ids))
            progress.step(len(link_ids))
    except BaseException as error:  # re-raised by the main thread, so a failure cannot pass as a fast run
        errors.append(error)
    finally:
        connections.close_all()  # Django's connections are per thread: this one's would otherwise leak


def naive(connection: CalendarConnection, rooms: int) -> list[SyncReport]:
    """One calendarView request per room, one room after another, writing what the engine writes per room."""
    from django.utils import timezone

    from spaces_calendar.calendars.bookings import apply_events
    from spaces_calendar.calendars.models import CalendarLink
    from spaces_calendar.calendars.sync import SyncReport, next_daily_sync, sync_window
    from spaces_calendar.providers.microsoft.calendar import neutral_event
    from spaces_calendar.providers.microsoft.client import GraphClient

    # One client, so one kept-alive connection for all rooms: the baseline's best case, not a straw man.
    client = GraphClient(connection.external_tenant_id)
    progress = Progress("naive, 1 request per room", rooms)
    report, now = SyncReport(), timezone.now()
    for link in CalendarLink.objects.filter(connection=connection).select_related("room").order_by("pk"):
        window = sync_window(link.room.time_zone, now)
        events = client.calendar_view(link.external_calendar_id, *window)
        report.counts += apply_events(link, [neutral_event(event) for event in events], full_window=window)
        CalendarLink.objects.filter(pk=link.pk).update(
            last_synced_at=now, last_full_sync_at=now, next_sync_at=next_daily_sync(link.room.time_zone, link.room_id,
                                                                                    now))
        report.synced += 1
        progress.step()
    return [report]


# --------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------


def traffic(fake: RemoteFake) -> Traffic:
    return fake.traffic()


def bookings(connection: CalendarConnection) -> frozenset[BookingKey]:
    from spaces_calendar.calendars.models import Booking

    rows = Booking.objects.filter(link__connection=connection, cancelled=False)
    return frozenset(rows.values_list("room_id", "external_id", "start", "end", "subject"))


def max_rss_mib() -> float:
    """The process's resident-set high-water mark, ru_maxrss (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def reset_rss_peak() -> bool:
    """Start the high-water mark again from the current RSS (Linux: clear_refs 5 resets what ru_maxrss reports),
    so each phase gets its own peak instead of the seeding's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def prepare(fake: RemoteFake, connection: CalendarConnection) -> Traffic:
    from spaces_calendar.providers.microsoft.client import forget_tenant

    reset(connection)
    forget_tenant(fake.tenant_id)  # a daily sync finds yesterday's token expired: every approach pays for one
    gc.collect()
    return traffic(fake)


def measure(approach: str, fake: RemoteFake, connection: CalendarConnection,
            run: Callable[[], list[SyncReport]]) -> tuple[Outcome, frozenset[BookingKey]]:
    """The timed run: requests, wall time, RSS peak, and the booking rows it left."""
    before = prepare(fake, connection)
    per_phase = reset_rss_peak()
    rss_start = max_rss_mib()
    started = time.perf_counter()
    reports = run()
    wall_s = time.perf_counter() - started
    rss_peak = max_rss_mib()
    used = traffic(fake) - before
    rows = bookings(connection)
    outcome = Outcome(
        approach=approach, wall_s=wall_s, login_requests=used.login, token_requests=used.token,
        graph_requests=used.graph, batch_items=used.batch_items, room_pages=used.room_pages,
        graph_requests_per_20_room_pages=used.graph / max(math.ceil(used.room_pages / BATCH_SIZE), 1),
        synced=sum(report.synced for report in reports), failed=sum(report.failed for report in reports),
        bookings=len(rows), same_bookings_as_naive=None, tracemalloc_peak_mib=None, rss_start_mib=rss_start,
        rss_peak_mib=rss_peak, rss_peak_per_phase=per_phase,
    )
    return outcome, rows


def traced_peak_mib(fake: RemoteFake, connection: CalendarConnection, run: Callable[[], list[SyncReport]]) -> float:
    """The same run again under tracemalloc: the peak of Python allocations while it ran."""
    prepare(fake, connection)
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()


def run_all(fake: RemoteFake, args: argparse.Namespace) -> list[Outcome]:
    print(f"seeding {args.rooms} rooms x {args.events} events ...", file=sys.stderr, flush=True)
    connection = seed(fake, args.rooms, args.events)
    # Engine first: whatever warms up on the first run (imports, caches) then favours the baseline.
    plans: list[tuple[str, Callable[[], list[SyncReport]]]] = [
        ("engine ($batch), 1 worker", lambda: engine_sequential(args.rooms)),
        (f"engine ($batch), {args.workers} workers", lambda: engine_threaded(args.rooms, args.workers)),
        ("naive, 1 request per room", lambda: naive(connection, args.rooms)),
    ]
    if args.workers <= 1:
        del plans[1]
    measured = []
    try:
        for name, run in plans:
            outcome, rows = measure(name, fake, connection, run)
            if not args.no_tracemalloc:
                print(f"{name}: again under tracemalloc ...", file=sys.stderr, flush=True)
                outcome.tracemalloc_peak_mib = traced_peak_mib(fake, connection, run)
            measured.append((outcome, rows))
    finally:
        if os.environ.get("DATABASE_URL"):
            cleanup(connection)
    baseline = measured[-1][1]
    for outcome, rows in measured:
        outcome.same_bookings_as_naive = rows == baseline
    fake.raise_errors()
    return [outcome for outcome, _ in measured]


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------


def print_table(outcomes: list[Outcome], args: argparse.Namespace, database: str) -> None:
    naive_s = outcomes[-1].wall_s
    print(f"rooms: {args.rooms}  events/room: {args.events}  latency: {args.latency_ms:g} ms per request  "
          f"database: {database}")
    print("| approach | login (token) requests | Graph requests ($batch items) | Graph requests per 20 room-pages "
          "| wall time | speed-up | Python peak (tracemalloc) | RSS peak (at start) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in outcomes:
        peak = "-" if row.tracemalloc_peak_mib is None else f"{row.tracemalloc_peak_mib:.1f} MiB"
        print(f"| {row.approach} | {row.login_requests} ({row.token_requests}) | {row.graph_requests:,} "
              f"({row.batch_items:,}) | {row.graph_requests_per_20_room_pages:.2f} | {row.wall_s:.2f} s "
              f"| {naive_s / row.wall_s:.1f}x | {peak} | {row.rss_peak_mib:.0f} MiB ({row.rss_start_mib:.0f} MiB) |")
    print_checks(outcomes, args)


def print_checks(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    expected = args.rooms * args.events
    for row in outcomes:
        same = "same rows as naive" if row.same_bookings_as_naive else "DIFFERENT rows from naive"
        print(f"{row.approach}: {row.synced} synced, {row.failed} failed, {row.bookings:,} bookings "
              f"(expected {expected:,}), {same}")
    best = min(outcomes[:-1], key=lambda row: row.wall_s)
    sequential = outcomes[0]
    ratio = sequential.graph_requests_per_20_room_pages
    print(f"target <= 1 Graph request per 20 rooms per page: {ratio:.2f} ({'met' if ratio <= 1 else 'missed'})")
    for row in (sequential, best) if best is not sequential else (sequential,):
        factor = outcomes[-1].wall_s / row.wall_s
        print(f"target >= 10x faster than naive, {row.approach}: {factor:.1f}x ({'met' if factor >= 10 else 'missed'})")
    per_phase = all(row.rss_peak_per_phase for row in outcomes)
    scope = "this run's own" if per_phase else "the process's so far (the kernel would not reset it)"
    print(f"RSS peak: ru_maxrss, {scope} high-water mark of this process (Django, the ORM objects, the HTTP "
          "client); the fake Graph runs in its own process and is not counted")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10, help="events per room, all inside the sync window")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every login and Graph request")
    parser.add_argument("--workers", type=int, default=4, help="threads for the parallel engine run (1: skip it)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the second, traced run of each approach")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args()
    if args.rooms < 1 or args.events < 1 or args.latency_ms < 0:
        parser.error("--rooms and --events must be at least 1, --latency-ms not negative")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    fake = start_fake(args.latency_ms / 1000)
    try:
        setup_django(fake, data_dir)
        from django.db import connection as db

        outcomes = run_all(fake, args)
        database = db.vendor
    finally:
        fake.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        print(json.dumps({"rooms": args.rooms, "events": args.events, "latency_ms": args.latency_ms,
                          "workers": args.workers, "database": database,
                          "results": [asdict(row) for row in outcomes]}, indent=2))
    else:
        print_table(outcomes, args, database)


if __name__ == "__main__":
    main()
