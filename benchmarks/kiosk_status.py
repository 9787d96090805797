"""Kiosk room status under load: gunicorn serving `GET /api/v1/rooms/{id}/status` against a constant-JSON ceiling.

Run from the project root:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kbench .venv/bin/python -m benchmarks.kiosk_status
    .venv/bin/python -m benchmarks.kiosk_status --quick          # 500 rooms, 2 s windows, on SQLite (~30 s)
    .venv/bin/python -m benchmarks.kiosk_status --profile 3000   # no load: CPU per request in-process, cProfile

Data. One tenant with ``--rooms`` rooms (50 rooms a floor, 10 floors a building): 80 % with a calendar link and
sensors, 10 % calendar only, 10 % sensors only. Bookings day and night from 3 h ago to the end of tomorrow (a
30-90 minute booking in a little over half of the half-hour slots, 10 % private), on a grid that puts the next
booking start or end 8 minutes after seeding, so that no status changes by the clock during a run (real bookings
cluster on :00 and :30, when many documents are rebuilt at once: not what this measures). One or two
``RoomSourceState`` rows per sensor room (Webex, Spaces occupancy, Wi-Fi), observed in the minute before the run:
fresh for the next 4-5 minutes. Loaded with COPY on PostgreSQL (bulk INSERT on SQLite). Kiosk tokens come from
``occupancy.kiosk.tokens.issue_token``: one per room (a room panel) and one per building (floor screens). Every
status document is then built once, in batches (``documents.rebuild``), so the steady state is measured, not
the first poll of each room; the table's "rebuilt" column counts documents rebuilt inside each window.

Server. gunicorn as ``manage.py up`` starts it (``process_set``: gthread, 2 workers x 4 threads, gunicorn's
keep-alive of 2 s) without the access log (the production command has none) and with
``DJANGO_SETTINGS_MODULE=benchmarks.kiosk_settings``: the project's settings plus ``/bench/constant``, a constant
JSON answer through the same middleware and URL resolution (``benchmarks/kiosk_urls.py``), served by the same
gunicorn in the same run. ``KIOSK_RATE_LIMIT`` is raised to 10^9: every request is still counted, none refused.

Load. ``benchmarks/kiosk_load.py`` in a separate process (``--generators`` of them): asyncio protocols,
hand-written HTTP/1.1 requests, responses parsed by Content-Length, ``--connections`` keep-alive connections, each
request for a random room with that room's token. Each scenario warms up, then measures a window of ``--seconds``:

(a) the ceiling, ``/bench/constant``, closed loop (each connection sends again as soon as it has its answer); run
    first and last, the higher of the two is the ceiling (the stricter verdict);
(b) status, closed loop, no ``If-None-Match``: 200s;
(c) status, closed loop, the ETag the client got before in ``If-None-Match``: 304s.

Before (b), (c) and (e) the generator fetches every room once *per gunicorn worker* (it groups its connections by
the worker that serves them, ``/bench/worker``): to learn the ETags, and so that each worker has read each room
once, as it has in steady state, when every panel polls its room every few seconds. On PostgreSQL a worker then
answers from memory (``occupancy/kiosk/changes.py``) until a change is heard; without that priming a random
choice among 5,000 rooms would leave a 15 s window mostly measuring first reads.
(d) a floor screen: ``rooms/status?building=..&floor=..`` (50 rooms) with the building's token, 200s;
(e) open loop: ``--rate`` requests/s on the status endpoint, ``--open-mix`` of them with ``If-None-Match``, latency
    from each request's scheduled send time (a stall is billed to every request it delayed: no coordinated
    omission);
(f) as (e), but as the window starts every room's document goes out of date at once (they are deleted), as at
    :00 when thousands of bookings start together: the window shows the rebuilds (no target; (e) is the steady
    state).

Reported: requests/s, p50/p99/max latency, status codes (anything but 200/304 counts as an error), the CPU used over
the window by gunicorn (master + workers), by the load generator, by PostgreSQL's backends for this database and by
the rest of the machine (other jobs), documents rebuilt, and the verdicts: status >= 60 % of the ceiling's
requests/s, 304 >= 80 %, p99 < 20 ms at 500 requests/s. Timings are printed, never asserted.

Limits. The 2 cores are shared by gunicorn, the generator (about 0.1 core) and PostgreSQL: a closed loop saturates
them, so the figures are what this machine does with everything on it, not what gunicorn alone would do; the
"other" CPU column shows when someone else was using the machine. An external DATABASE_URL gets its own tenant,
deleted at the end; the data folder is a throwaway one.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Europe/Oslo")
ROOMS_PER_FLOOR, FLOORS_PER_BUILDING = 50, 10
SUBJECTS = ["Weekly sync", "1:1", "Planning", "Design review", "Interview", "All hands prep", "Retro", "Customer call"]
TARGETS = {"status": 0.60, "not_modified": 0.80, "p99_ms": 20.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class World:
    tenant_id: int
    rooms: list[tuple[int, int, int]]  # (room, floor, building)
    room_tokens: dict[int, str]
    building_tokens: dict[int, str]
    sensor_rooms: list[int] = field(default_factory=list)
    bookings: int = 0
    sensor_rows: int = 0
    seed_s: float = 0.0
    load_before: float = 0.0
    tokens_s: float = 0.0
    prewarm_s: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    scenario: str
    path: str
    mode: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: int
    server_cpu: float  # cores (1.0 = one core busy for the whole window)
    generator_cpu: float
    database_cpu: float
    other_cpu: float
    machine_cpu: float
    rebuilt: int
    reconnects: int
    learned: int
    workers_primed: int
    rate: float | None = None
    ratio: float | None = None
    target: str = ""
    verdict: str = ""


@dataclass
class Freshness:
    """How long a booking write takes to show in the API (any worker), measured after the load scenarios."""

    changes: int
    p50_ms: float
    max_ms: float
    polls_after: int  # polls on fresh connections after the first fresh answer
    stale_after: int  # of those, answered with the old document


# --------------------------------------------------------------------------------------------------------
# Set-up: Django, the data
# --------------------------------------------------------------------------------------------------------


def setup_django(data_dir: Path) -> None:
    """Settings read the environment once, in django.setup(): point them at a throwaway data folder."""
    os.environ.update(SPACES_DATA_DIR=str(data_dir), SANDBOX="false", DEBUG="false")  # DEBUG keeps every query
    # The project's settings plus /bench/constant (for gunicorn and --profile alike); every request is counted by
    # the rate limit as in production, none refused.
    os.environ.update(DJANGO_SETTINGS_MODULE="benchmarks.kiosk_settings", KIOSK_RATE_LIMIT="1000000000")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if os.environ.get("DATABASE_URL"):
        # An external database needs these from the environment; the benchmark encrypts nothing it keeps.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    (data_dir / "static").mkdir(exist_ok=True)  # whitenoise warns about a missing STATIC_ROOT otherwise


def copy_rows(model: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL; bulk_create elsewhere."""
    from django.db import connection

    if connection.vendor == "postgresql":
        quoted = ", ".join(f'"{name}"' for name in columns)
        with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY {model._meta.db_table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    model.objects.bulk_create((model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=500)


def seed(rooms: int, rng: random.Random) -> World:
    from django.db import connection, transaction
    from django.utils import timezone

    from occupancy.models import OccupancyPolicy
    from spaces_calendar.calendars.models import Booking, CalendarConnection, CalendarLink
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    started = time.perf_counter()
    now = timezone.now()
    slug = f"bench-kiosk-{secrets.token_hex(4)}"
    with transaction.atomic():
        tenant = Tenant.objects.create(name="Kiosk benchmark", slug=slug, time_zone=ZONE.key)
        OccupancyPolicy.objects.create(tenant=tenant, show_subjects=True)
        floors: list[Floor] = []
        for b in range(math.ceil(rooms / (ROOMS_PER_FLOOR * FLOORS_PER_BUILDING))):
            building = Building.objects.create(tenant=tenant, name=f"B{b + 1}", time_zone=ZONE.key)
            floors += Floor.objects.bulk_create(Floor(building=building, name=str(level), level=level)
                                                for level in range(1, FLOORS_PER_BUILDING + 1))
        # bulk_create skips Room.save(), which is what fills in tenant: set it here.
        Room.objects.bulk_create(
            Room(tenant=tenant, floor=floors[n // ROOMS_PER_FLOOR], name=f"Room {n:05d}",
                 email=f"room{n:05d}@{slug}.example.com", capacity=rng.choice([4, 6, 8, 10, 12, 20]))
            for n in range(rooms))
        room_rows = list(Room.objects.filter(tenant=tenant).order_by("pk").values_list("pk", "floor_id",
                                                                                   "floor__building_id", "email"))
        kinds = {pk: ("both" if n % 10 < 8 else "calendar" if n % 10 == 8 else "sensors")
                 for n, (pk, *_rest) in enumerate(room_rows)}
        link_conn = CalendarConnection.objects.create(tenant=tenant, provider="microsoft", status="active",
                                                      external_tenant_id=secrets.token_hex(8))
        CalendarLink.objects.bulk_create(
            CalendarLink(connection=link_conn, room_id=pk, external_calendar_id=email, last_synced_at=now)
            for pk, _floor, _building, email in room_rows if kinds[pk] != "sensors")
        links = dict(CalendarLink.objects.filter(connection=link_conn).values_list("room_id", "pk"))
        columns = ["room_id", "link_id", "external_id", "ical_uid", "series_id", "subject", "organizer_hash",
                   "attendee_count", "start", "end", "all_day", "private", "cancelled", "updated_at"]
        # On a half-hour grid that puts the next booking start or end 8 minutes (a grace window's end 18) from
        # now: no status changes by the clock during a run (real bookings cluster on :00 and :30, when many
        # documents are rebuilt at once; that is not what this measures).
        first = now.replace(second=0, microsecond=0) + timedelta(minutes=8) - timedelta(hours=3)
        last = datetime.combine(now.astimezone(ZONE).date() + timedelta(days=2), wall(), tzinfo=ZONE).astimezone(UTC)
        bookings = []
        for pk, link_id in links.items():
            cursor, n = first, 0
            while cursor < last:
                if rng.random() < 0.55:
                    end = cursor + timedelta(minutes=rng.choice([30, 30, 60, 60, 90]))
                    private = rng.random() < 0.1
                    bookings.append((pk, link_id, f"evt-{pk}-{n}", "", "", "" if private else rng.choice(SUBJECTS),
                                     f"{rng.getrandbits(64):016x}", rng.randint(1, 10), cursor, end, False, private,
                                     False, now))
                    cursor, n = end, n + 1
                else:
                    cursor += timedelta(minutes=30)
        copy_rows(Booking, columns, bookings)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # fresh planner statistics, as autovacuum would have by now
                cursor.execute(f"ANALYZE {Booking._meta.db_table}")
    world = World(tenant.pk, [(pk, floor, building) for pk, floor, building, _ in room_rows], {}, {},
                  sensor_rooms=[pk for pk in kinds if kinds[pk] != "calendar"], bookings=len(bookings))
    world.seed_s = time.perf_counter() - started
    return world


def issue_tokens(world: World) -> None:
    """A token per room and per building, through the real ``issue_token`` (hashing, scope checks, the m2m)."""
    from django.db import transaction
    from django.utils import timezone

    from occupancy.kiosk.models import KioskToken
    from occupancy.kiosk.tokens import issue_token
    from spaces_calendar.core.models import Building, Room, Tenant

    started = time.perf_counter()
    tenant = Tenant.objects.get(pk=world.tenant_id)
    with transaction.atomic():
        for room in Room.objects.filter(tenant=tenant).order_by("pk"):
            _token, raw = issue_token(tenant, f"Panel {room.name}", rooms=[room])
            world.room_tokens[room.pk] = raw
        for building in Building.objects.filter(tenant=tenant):
            _token, raw = issue_token(tenant, f"Lobby {building.name}", building=building)
            world.building_tokens[building.pk] = raw
    world.tokens_s = time.perf_counter() - started
    # A fleet that has been running: every token used before (a token's very first use is written at once, which
    # happens once in its life, not in a steady state).
    KioskToken.objects.filter(tenant=tenant).update(last_used_at=timezone.now() - timedelta(minutes=2))


def sense(world: World, rng: random.Random) -> None:
    """Each sensor room's latest readings, observed within the last minute (fresh for 5-10 minutes from now)."""
    from django.db import connection
    from django.utils import timezone

    from occupancy.models import RoomSourceState

    now = timezone.now()
    rows = []
    for pk in world.sensor_rooms:
        sources = rng.choice([["webex"], ["spaces_occupancy"], ["webex", "spaces_wifi"]])
        occupied = rng.random() < 0.45
        for source in sources:
            people = (rng.randint(1, 8) if occupied else 0) if source != "spaces_wifi" else None
            present = occupied if source != "spaces_wifi" or rng.random() < 0.9 else None
            rows.append((pk, source, now - timedelta(seconds=rng.uniform(0, 60)), present, people))
    copy_rows(RoomSourceState, ["room_id", "source", "observed_at", "present", "people_count"], rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {RoomSourceState._meta.db_table}")
    world.sensor_rows = len(rows)


def prewarm(world: World) -> None:
    """Build every room's status document once, in batches, as the first polls would."""
    from django.utils import timezone

    from occupancy.kiosk import documents

    started = time.perf_counter()
    room_ids = [pk for pk, _floor, _building in world.rooms]
    states: dict[str, int] = {}
    for index in range(0, len(room_ids), 500):
        for entry in documents.rebuild(room_ids[index:index + 500], timezone.now()).values():
            state = json.loads(documents.render_one(entry))["state"]
            states[state] = states.get(state, 0) + 1
    world.prewarm_s = time.perf_counter() - started
    world.states = states


def expire_documents(world: World) -> None:
    """Every room's document out of date at once, as when thousands of bookings start at :00: each is deleted
    (which every web process hears of), so the next poll of each room rebuilds it."""
    from occupancy.kiosk.models import KioskRoomStatus

    KioskRoomStatus.objects.filter(room__tenant_id=world.tenant_id).delete()


def rebuilt_between(world: World, low: float, high: float) -> int:
    from occupancy.kiosk.models import KioskRoomStatus

    return KioskRoomStatus.objects.filter(
        room__tenant_id=world.tenant_id, computed_at__gte=datetime.fromtimestamp(low, UTC),
        computed_at__lt=datetime.fromtimestamp(high, UTC)).count()


def cleanup(world: World) -> None:
    """Remove the benchmark's tenant from a database we do not own: the big tables in plain DELETEs."""
    from django.db import connection, transaction

    from occupancy.kiosk.models import KioskRoomStatus, KioskToken
    from occupancy.models import RoomSourceState
    from spaces_calendar.calendars.models import Booking
    from spaces_calendar.core.models import Building, Room, Tenant

    rooms = f"SELECT id FROM {Room._meta.db_table} WHERE tenant_id = %s"  # noqa: S608
    with transaction.atomic():
        with connection.cursor() as cursor:
            for model in (KioskRoomStatus, RoomSourceState, Booking):
                cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE room_id IN ({rooms})",  # noqa: S608
                               [world.tenant_id])
        KioskToken.objects.filter(tenant_id=world.tenant_id).delete()
        Room.objects.filter(tenant_id=world.tenant_id).delete()  # before their floors, which they protect
        Building.objects.filter(tenant_id=world.tenant_id).delete()
        Tenant.objects.filter(pk=world.tenant_id).delete()


# --------------------------------------------------------------------------------------------------------
# The server and the CPU it uses
# --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int | None) -> subprocess.Popen:
    """gunicorn exactly as ``manage.py up`` runs it, minus the access log, on the benchmark's URLconf."""
    from spaces_calendar.core.management.commands.up import process_set

    argv = process_set(port, workers, 1)["web"]
    at = argv.index("--access-logfile")
    del argv[at:at + 2]
    if threads is not None:  # an experiment: not what `up` runs
        argv[argv.index("--threads") + 1] = str(threads)
    # Quieter, and no control socket in the home folder (a running `manage.py up` may own the default one).
    argv += ["--log-level", "warning", "--no-control-socket"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # settings module and rate limit: see setup_django
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/constant", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def server_cpu(server: subprocess.Popen) -> float:
    """CPU seconds of the gunicorn master and its workers so far."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        children = []
    return process_cpu(server.pid) + sum(process_cpu(int(pid)) for pid in children)


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far (every core; idle and iowait excluded)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def database_cpu() -> float:
    """CPU seconds so far of the PostgreSQL backends connected to the benchmark's database (0 on SQLite, which runs
    inside gunicorn). A backend's title names its database: ``postgres: 15/main: user kbench 127.0.0.1(5000) idle``."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    name = f" {connection.settings_dict['NAME']} "
    total = 0.0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres:") and name.encode() in title:
            total += process_cpu(int(cmdline.parent.name))
    return total


# --------------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    path: str
    targets: list[tuple[str, str]]
    mode: str = "closed"
    conditional: float = 0.0
    learn: bool = False
    rate: float | None = None
    #: At the window's start, every stored document goes out of date at once (as at :00 when bookings cluster).
    boundary: bool = False


def run_scenario(scenario: Scenario, server: subprocess.Popen, port: int, world: World,
                 args: argparse.Namespace) -> Result:
    step(f"{scenario.name}: {args.warmup:g} s warm-up + {args.seconds:g} s")
    count = args.generators
    generators = []
    for index in range(count):
        config = {
            "host": "127.0.0.1", "port": port, "mode": scenario.mode,
            "connections": max(args.connections // count, 1), "warmup_s": args.warmup, "duration_s": args.seconds,
            "targets": scenario.targets, "conditional": scenario.conditional, "learn": scenario.learn,
            "rate": (scenario.rate or 0) / count, "seed": args.seed * 100 + index,
        }
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.kiosk_load"], cwd=ROOT, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        process.stdin.write(json.dumps(config) + "\n")
        process.stdin.flush()
        generators.append(process)
    for process in generators:
        line = process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"load generator failed to start: {line!r}")
    start = time.time() + 0.3
    for process in generators:
        process.stdin.write(f"go {start}\n")
        process.stdin.flush()
    low = start + args.warmup
    time.sleep(max(low - time.time(), 0))
    if scenario.boundary:
        expire_documents(world)
    server0, database0, machine0 = server_cpu(server), database_cpu(), machine_cpu()
    time.sleep(max(low + args.seconds - time.time(), 0))
    server1, database1, machine1 = server_cpu(server), database_cpu(), machine_cpu()
    reports = []
    for process in generators:
        reports.append(json.loads(process.stdout.readline()))
        process.wait(timeout=30)
    latencies = sorted(value for report in reports for value in report["latencies_us"])
    statuses: dict[str, int] = {}
    for report in reports:
        for status, n in report["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    requests = sum(report["completed"] for report in reports)
    unanswered = sum(report["unanswered"] for report in reports)
    errors = sum(n for status, n in statuses.items() if status not in ("200", "304")) + unanswered
    if unanswered:
        statuses["unanswered"] = unanswered
    generator_cpu = sum(report["cpu_s"] or 0 for report in reports) / args.seconds
    server_used = (server1 - server0) / args.seconds
    machine_used = (machine1 - machine0) / args.seconds
    database_used = max(database1 - database0, 0.0) / args.seconds  # a backend that exited takes its CPU along
    return Result(
        scenario=scenario.name, path=scenario.path, mode=scenario.mode, connections=args.connections,
        seconds=args.seconds, requests=requests, rps=requests / args.seconds,
        p50_ms=percentile(latencies, 0.50), p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] / 1000 if latencies else 0.0, statuses=statuses, errors=errors,
        server_cpu=server_used, generator_cpu=generator_cpu, database_cpu=database_used,
        other_cpu=max(machine_used - server_used - generator_cpu - database_used, 0.0), machine_cpu=machine_used,
        rebuilt=rebuilt_between(world, low, low + args.seconds),
        reconnects=sum(report["reconnects"] for report in reports),
        learned=sum(report["learned"] for report in reports),
        workers_primed=max(report["workers_primed"] for report in reports), rate=scenario.rate)


def _status(port: int, room_id: int, token: str, etag: str | None = None) -> tuple[int, str]:
    """One poll on a connection of its own (so that polls land on every gunicorn worker): status, ETag."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}", **({"If-None-Match": etag} if etag else {})}
        conn.request("GET", f"/api/v1/rooms/{room_id}/status", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("ETag") or ""
    finally:
        conn.close()


def freshness(world: World, port: int, rng: random.Random, changes: int = 20, polls: int = 20) -> Freshness:
    """Write a booking the way a calendar sync does (its own transaction) and poll until the API shows it: the
    delay from commit to a fresh answer, and whether any worker answers with the old document afterwards. The
    booking starts 5 s later, so it is the room's next booking whatever else the room has."""
    from django.utils import timezone

    from spaces_calendar.calendars.models import Booking

    delays, stale = [], 0
    for room_id, _floor, _building in rng.sample(world.rooms, min(changes, len(world.rooms))):
        token = world.room_tokens[room_id]
        _code, before = _status(port, room_id, token)
        start = timezone.now() + timedelta(seconds=5)
        Booking.objects.create(room_id=room_id, external_id=f"bench-fresh-{room_id}", start=start,
                               end=start + timedelta(minutes=10), subject="Fresh")
        written = time.perf_counter()
        while True:
            code, after = _status(port, room_id, token, before)
            if code == 200 and after != before:
                delays.append((time.perf_counter() - written) * 1000)
                break
            if time.perf_counter() - written > 10:
                raise RuntimeError(f"room {room_id}: the new booking did not show within 10 s")
        for _ in range(polls):
            code, tag = _status(port, room_id, token, after)
            stale += tag == before
    delays.sort()
    return Freshness(len(delays), delays[len(delays) // 2], delays[-1], polls * len(delays), stale)


def percentile(values: list[int], share: float) -> float:
    if not values:
        return 0.0
    return values[min(int(math.ceil(share * len(values))) - 1, len(values) - 1)] / 1000


def scenarios(world: World, args: argparse.Namespace) -> list[Scenario]:
    auth = {pk: f"Authorization: Bearer {raw}\r\n" for pk, raw in world.room_tokens.items()}
    status = [(f"/api/v1/rooms/{pk}/status", auth[pk]) for pk, _floor, _building in world.rooms]
    # The ceiling sends the same headers (a room's token) so that requests are the same size.
    constant = [("/bench/constant", auth[pk]) for pk, _floor, _building in world.rooms]
    floors = sorted({(floor, building) for _pk, floor, building in world.rooms})
    floor_screens = [(f"/api/v1/rooms/status?building={building}&floor={floor}",
                      f"Authorization: Bearer {world.building_tokens[building]}\r\n") for floor, building in floors]
    plan = {
        "a": Scenario("(a) ceiling: constant JSON", "/bench/constant", constant),
        "b": Scenario("(b) status, 200", "/api/v1/rooms/{id}/status", status, learn=True),
        "c": Scenario("(c) status, 304 (If-None-Match)", "/api/v1/rooms/{id}/status", status, conditional=1.0,
                      learn=True),
        "d": Scenario(f"(d) floor screen, {ROOMS_PER_FLOOR} rooms, 200", "/api/v1/rooms/status?building=..&floor=..",
                      floor_screens),
        "e": Scenario(f"(e) status, open loop {args.rate:g}/s, {args.open_mix:.0%} with If-None-Match",
                      "/api/v1/rooms/{id}/status", status, mode="open", conditional=args.open_mix, learn=True,
                      rate=args.rate),
        "f": Scenario("(f) as (e), every document out of date at the window's start (:00)",
                      "/api/v1/rooms/{id}/status", status, mode="open", conditional=args.open_mix, learn=True,
                      rate=args.rate, boundary=True),
    }
    chosen = [plan[letter] for letter in "abcdef" if letter in args.scenarios]
    if "a" in args.scenarios and len(chosen) > 1:
        chosen.append(Scenario("(a') ceiling again", "/bench/constant", constant))
    return chosen


def judge(results: list[Result]) -> float | None:
    """Ratios and verdicts against the targets; returns the ceiling (the higher of the two runs; None without)."""
    ceiling = max((result.rps for result in results if result.path == "/bench/constant"), default=None)
    for result in results:
        if result.mode == "closed" and result.path != "/bench/constant" and ceiling:
            result.ratio = result.rps / ceiling
        if result.scenario.startswith(("(b)", "(c)")) and result.ratio is None:
            continue
        if result.scenario.startswith("(b)"):
            result.target = f">= {TARGETS['status']:.0%} of ceiling"
            result.verdict = "met" if result.ratio >= TARGETS["status"] else "missed"
        elif result.scenario.startswith("(c)"):
            result.target = f">= {TARGETS['not_modified']:.0%} of ceiling"
            result.verdict = "met" if result.ratio >= TARGETS["not_modified"] else "missed"
        elif result.scenario.startswith("(e)"):  # (f) is the :00 stress, with no target
            result.target = f"p99 < {TARGETS['p99_ms']:g} ms at {result.rate:g}/s"
            on_rate = result.rps >= 0.98 * (result.rate or 0)
            result.verdict = "met" if result.p99_ms < TARGETS["p99_ms"] and on_rate and not result.errors else "missed"
    return ceiling


# --------------------------------------------------------------------------------------------------------
# --profile: the same requests through the WSGI application in this process (no gunicorn, no network)
# --------------------------------------------------------------------------------------------------------


def in_process(world: World, requests: int) -> None:
    """CPU per request of each kind, through Django's WSGI handler as a gunicorn thread calls it, then cProfile's
    top 30 (own time) of the status 200 path. CPU is this thread's (``time.thread_time``): the database server's
    share on PostgreSQL is not in it, the wall time beside it includes it."""
    import cProfile
    import io
    import pstats

    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    rng = random.Random(1)
    room_ids = [pk for pk, _floor, _building in world.rooms]
    floors = sorted({(floor, building) for _pk, floor, building in world.rooms})
    etags: dict[str, str] = {}

    def call(path: str, token: str, etag: bool = False) -> tuple[int, str | None]:
        route, _, query = path.partition("?")
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000", "SERVER_PROTOCOL": "HTTP/1.1",
                   "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http",
                   "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True}
        if etag and path in etags:
            environ["HTTP_IF_NONE_MATCH"] = etags[path]
        answer: list[Any] = []
        body = application(environ, lambda status, headers, exc_info=None: answer.extend((status, headers)))
        try:
            b"".join(body)
        finally:
            body.close()  # request_finished, as gunicorn does
        found = next((value for name, value in answer[1] if name == "ETag"), None)
        if found:
            etags[path] = found
        return int(answer[0][:3]), found

    def room() -> tuple[str, str]:
        pk = rng.choice(room_ids)
        return f"/api/v1/rooms/{pk}/status", world.room_tokens[pk]

    def floor() -> tuple[str, str]:
        floor_id, building = rng.choice(floors)
        return f"/api/v1/rooms/status?building={building}&floor={floor_id}", world.building_tokens[building]

    kinds = [("ceiling: constant JSON", lambda: ("/bench/constant", world.room_tokens[room_ids[0]]), False, 200),
             ("status, 200", room, False, 200), ("status, 304", room, True, 304),
             (f"floor screen, {ROOMS_PER_FLOOR} rooms, 200", floor, False, 200)]
    for pk in room_ids:  # every ETag known, and every token in the cache, as in the steady state
        call(f"/api/v1/rooms/{pk}/status", world.room_tokens[pk])
    print(f"in process, {requests:,} requests of each kind:")
    print("| request | CPU per request | wall per request | requests/s of one thread (CPU) |")
    print("|---|---|---|---|")
    for name, pick, conditional, expected in kinds:
        for _ in range(200):  # warm
            call(*pick(), etag=conditional)
        plan = [pick() for _ in range(requests)]
        cpu, started = time.thread_time(), time.perf_counter()
        statuses = [call(path, token, etag=conditional)[0] for path, token in plan]
        cpu, wall_s = time.thread_time() - cpu, time.perf_counter() - started
        wrong = sum(status != expected for status in statuses)
        print(f"| {name} | {cpu / requests * 1e6:,.0f} µs | {wall_s / requests * 1e6:,.0f} µs | "
              f"{requests / cpu:,.0f} |" + (f" {wrong} answers were not {expected}" if wrong else ""))
    for name, pick, conditional in (("status, 200", room, False), ("status, 304", room, True)):
        plan = [pick() for _ in range(requests)]
        profile = cProfile.Profile(time.thread_time)  # CPU: waiting for the database is not this process's cost
        profile.runcall(lambda plan=plan, conditional=conditional: [call(p, t, etag=conditional) for p, t in plan])
        print(f"\ncProfile (thread CPU time) of {requests:,} x {name} (top 30 by own time):", file=sys.stderr)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        if os.environ.get("KIOSK_BENCH_CUMULATIVE"):
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(60)


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------


def step(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text} ...", file=sys.stderr, flush=True)


def print_table(results: list[Result], world: World, args: argparse.Namespace, database: str,
                ceiling: float | None) -> None:
    states = ", ".join(f"{name} {count:,}" for name, count in sorted(world.states.items()))
    print(f"rooms: {len(world.rooms):,}  bookings: {world.bookings:,}  sensor states: {world.sensor_rows:,}  "
          f"tokens: {len(world.room_tokens):,} room + {len(world.building_tokens)} building  database: {database}  "
          f"gunicorn: gthread {args.web_workers} x {args.threads or 4} threads  connections: {args.connections}  "
          f"generators: {args.generators}  window: {args.seconds:g} s after {args.warmup:g} s warm-up")
    print(f"load average before the run: {world.load_before:.2f} (1 min)")
    print(f"seeded in {world.seed_s:.1f} s, tokens issued in {world.tokens_s:.1f} s, documents pre-warmed in "
          f"{world.prewarm_s:.1f} s ({states})")
    print("| scenario | requests/s | vs ceiling | p50 | p99 | max | statuses | errors | CPU: gunicorn / generator / "
          "database / other (cores) | rebuilt | target | result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        if row.ratio is not None:
            ratio = f"{row.ratio:.0%}"
        else:
            ratio = "-" if row.mode == "open" or not ceiling else f"ceiling ({row.rps / ceiling:.0%})"
        statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(row.statuses.items()))
        print(f"| {row.scenario} | {row.rps:,.0f} | {ratio} | {row.p50_ms:.1f} ms | {row.p99_ms:.1f} ms "
              f"| {row.max_ms:.0f} ms | {statuses} | {row.errors} | {row.server_cpu:.2f} / {row.generator_cpu:.2f} / "
              f"{row.database_cpu:.2f} / {row.other_cpu:.2f} | {row.rebuilt} | {row.target} | {row.verdict} |")
    print("CPU in cores over the window (2.00 = both cores of this machine): gunicorn = master + workers; "
          "generator = the load generator's own; database = the PostgreSQL backends of the benchmark's database "
          "(SQLite runs inside gunicorn); other = the rest of the machine (other jobs, PostgreSQL's background "
          "processes, the kernel's own threads).")
    if any(row.reconnects for row in results):
        print("reconnects (server closed an idle keep-alive connection): "
              + ", ".join(f"{row.scenario.split()[0]} {row.reconnects}" for row in results if row.reconnects))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window of each scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections, all generators")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop requests/s for scenario (e)")
    parser.add_argument("--open-mix", type=float, default=0.5, help="share of (e) sent with If-None-Match")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (manage.py up: 2)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker, an experiment (manage.py up: 4)")
    parser.add_argument("--scenarios", default="abcdef", help="which of (a)-(f) to run, e.g. ac (default: all)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="instead of the load runs: time N requests of each kind in this process, and cProfile")
    parser.add_argument("--quick", action="store_true", help="500 rooms, 2 s windows, 1 s warm-ups (about 30 s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--keep", action="store_true", help="leave the tenant in an external database, to dig in")
    args = parser.parse_args()
    if args.quick:
        args.rooms, args.seconds, args.warmup = min(args.rooms, 500), min(args.seconds, 2.0), min(args.warmup, 1.0)
    if min(args.rooms, args.connections, args.generators, args.web_workers) < 1 or args.seconds <= 0 or \
            args.rate <= 0 or not 0 <= args.open_mix <= 1 or not args.scenarios or set(args.scenarios) - set("abcdef"):
        parser.error("--rooms, --connections, --generators, --web-workers >= 1; --seconds, --rate > 0; "
                     "--open-mix in 0..1; --scenarios letters from abcdef")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    world = None
    rng = random.Random(args.seed)
    try:
        setup_django(data_dir)
        from django.db import connection

        step(f"seeding {args.rooms:,} rooms")
        load_before = load_average()
        world = seed(args.rooms, rng)
        world.load_before = load_before
        step(f"issuing {args.rooms + len({building for *_, building in world.rooms}):,} kiosk tokens")
        issue_tokens(world)
        sense(world, rng)
        step("pre-warming every status document")
        prewarm(world)
        if args.profile:
            in_process(world, args.profile)
            return
        port = free_port()
        step(f"starting gunicorn on port {port}")
        server = start_gunicorn(port, args.web_workers, args.threads)
        try:
            results = [run_scenario(scenario, server, port, world, args) for scenario in scenarios(world, args)]
            step("freshness: booking writes until every worker shows them")
            fresh = freshness(world, port, rng)
        finally:
            stop_gunicorn(server)
        ceiling = judge(results)
        report(results, world, args, connection.vendor, ceiling, fresh)
    finally:
        try:
            if world is not None and os.environ.get("DATABASE_URL") and not args.keep:
                step("deleting the benchmark's tenant")
                cleanup(world)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def report(results: list[Result], world: World, args: argparse.Namespace, database: str,
           ceiling: float | None, fresh: Freshness) -> None:
    if args.json:
        print(json.dumps({"rooms": len(world.rooms), "bookings": world.bookings, "database": database,
                          "web_workers": args.web_workers, "connections": args.connections,
                          "generators": args.generators, "seconds": args.seconds, "warmup": args.warmup,
                          "ceiling_rps": ceiling, "document_states": world.states, "load_before": world.load_before,
                          "results": [asdict(row) for row in results], "freshness": asdict(fresh)}, indent=2),
              flush=True)
    else:
        print_table(results, world, args, database, ceiling)
        print(f"freshness: {fresh.changes} booking writes shown after p50 {fresh.p50_ms:.1f} ms, max "
              f"{fresh.max_ms:.1f} ms (commit to the first fresh answer, a new connection per poll); then "
              f"{fresh.stale_after} of {fresh.polls_after} polls answered with the old document")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
