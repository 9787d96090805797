"""The whole Firehose path, receiver → ledger → intake, for N NDJSON lines of the real shapes.

Run from the project root:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fhbench .venv/bin/python -m benchmarks.firehose_path
    .venv/bin/python -m benchmarks.firehose_path --lines 100000          # a quicker run on SQLite
It generates ``--lines`` Firehose lines (seeded; DESIGN.md section 6: mostly ``webexTelemetryUpdate`` with
``deviceInfo.workspaceId`` and bare-metric ``telemetries[]``, then ``cameraCounts``, ``spaceOccupancy`` and Wi-Fi
``deviceCounts`` / ``devicePresence``, every ``location`` innermost first with its ``parent`` chain up to ROOT) for a
tenant of ``--rooms`` rooms mapped to Spaces zones and Webex workspaces, plus Spaces zones and Webex workspaces no
room is mapped to. The fake Firehose (``FakeFirehose``, ``publish_raw``) serves them from a child process (the
Firehose is somebody else's computer: in our process its work would be billed to the receiver), over plain HTTP on
the loopback unless ``--tls``. Then, in one run:

* **(a)** a plain ``orjson.loads`` of every line, from memory: the floor any parser pays;
* **(c)** the stream alone: ``firehose.stream.FirehoseStream`` reading every line from the fake and dropping it,
  the ceiling the fake server and the HTTP client allow;
* **(b)** the whole path: ``firehose.receiver.Receiver`` reading the same stream over the socket, parsing and
  reading batches (``--batch`` = ``FIREHOSE_BATCH_SIZE``) and applying each in one transaction (de-dup, sensor
  catalogue, signals, pending signals, room states, checkpoint), until every event is applied.

(a) and (c) run in forked children, so that what they allocate does not count in the receiver's RSS. It prints
events/s of each, (b) as a share of (a), the CPU time of the receiver process, of its PostgreSQL backend and of
the fake, the time of the batch transactions over the first and the last 10 % of batches (the tables grow through
the run: a cost that grows with them shows there), the receiver's RSS (current and peak, at the start and at the
end), and checks the stored rows against what the generator planned (signals, pending signals, skipped events).
``--db-breakdown`` adds the backend's CPU per kind of statement. The timings are printed, never asserted. An
external DATABASE_URL gets its own tenant and stream, deleted at the end; the data folder is a throwaway one.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import gc
import hashlib
import multiprocessing
import os
import pstats
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spaces_calendar.partner import firehose_payloads as payloads

TENANT_ID = "spaces-tenant-bench"
PARTNER_TENANT_ID = "partner-tenant-bench"
API_KEY = "bench-firehose-key"
#: Shares of the event types (of all lines); the rest is ``deviceCounts`` / ``devicePresence`` (Wi-Fi).
WEBEX, CAMERA, SPACE = 0.74, 0.14, 0.04
#: Of the Webex and location events, those naming a source no room is mapped to (open areas, phone booths,
#: desk devices, rooms not mapped yet).
UNMAPPED_SHARE = 0.12
#: What one telemetry update carries (Webex devices send a metric when it changes, a full report hourly).
TELEMETRY_MIX = [(("presence",), 0.30), (("peopleCount",), 0.30), (("presence", "peopleCount"), 0.08),
                 (("ambientNoise",), 0.12), (("soundLevel",), 0.08), (("ambientTemp", "relativeHumidity"), 0.06),
                 (("airQuality",), 0.03), (payloads.WEBEX_METRICS, 0.03)]


@dataclass
class Plan:
    """What the generated lines should leave behind (checked against the database at the end)."""

    lines: int = 0
    signals: int = 0
    pending: int = 0
    skipped: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    first_ms: int = 0
    last_ms: int = 0


# --------------------------------------------------------------------------------------------------------
# The lines (pure: no Django)
# --------------------------------------------------------------------------------------------------------


def _hex(seed: int, *parts: object) -> str:
    """32 hex digits (the shape of a Spaces locationId), derived from the seed."""
    return hashlib.sha256(f"{seed}:{':'.join(map(str, parts))}".encode()).hexdigest()[:32]


def _webex_id(seed: int, kind: str, *parts: object) -> str:
    """A Webex id as the Webex APIs give them: base64 of ``ciscospark://us/<KIND>/<uuid>``."""
    uuid = _hex(seed, kind, *parts)
    text = f"ciscospark://us/{kind}/{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
    return base64.b64encode(text.encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Place:
    """One Spaces zone (a room or not), its hierarchy, and the Webex workspace in it (if any)."""

    number: int
    zone_id: str
    name: str
    location: dict[str, Any]
    workspace_id: str
    device: dict[str, Any]
    mapped: bool


def places(seed: int, rooms: int) -> list[Place]:
    """``rooms`` mapped zones (each with a Webex workspace) and the unmapped ones beside them, 50 to a floor,
    10 floors to a building, 5 buildings to a campus."""
    unmapped = max(1, round(rooms * UNMAPPED_SHARE / (1 - UNMAPPED_SHARE)))
    root = payloads.Level(_hex(seed, "root"), "Bench Corp", ("ROOT",))
    out = []
    for number in range(rooms + unmapped):
        building, floor = number // 500, number // 50
        campus = payloads.Level(_hex(seed, "campus", building // 5), f"Campus {building // 5}", ("CAMPUS",))
        house = payloads.Level(_hex(seed, "building", building), f"Building {building}", ("BUILDING",),
                               source_location_id=f"b{building}")
        level = payloads.Level(_hex(seed, "floor", floor), f"Floor {floor % 10}", ("FLOOR",),
                               floor_number=floor % 10)
        mapped = number < rooms
        name = f"Room {number:05d}" if mapped else f"Open area {number:05d}"
        zone = payloads.Level(_hex(seed, "zone", number), name, ("ZONE",), source_location_id=f"z{number}")
        workspace = _webex_id(seed, "WORKSPACE", number)
        device = payloads.device_info(
            _webex_id(seed, "DEVICE", number), mac_address=":".join(_hex(seed, "mac", number)[i:i + 2]
                                                                    for i in range(0, 12, 2)),
            product="Cisco Webex Room Kit Mini", display_name=f"{name} device",
            serial_number=f"FOC{number:08d}", workspace_id=workspace, org_id=_webex_id(seed, "ORGANIZATION"))
        out.append(Place(number, zone.location_id, name, payloads.location_path(root, campus, house, level, zone),
                         workspace, device, mapped))
    return out


def generate(seed: int, rooms: int, count: int, path: Path, now_ms: int, run: str) -> Plan:
    """Write ``count`` lines (one event each) to ``path``, with their timestamp and partition; return the plan.
    ``run`` starts every recordUid (so that a run's de-dup rows can be told from another's)."""
    import orjson

    rng = random.Random(seed)
    sites = places(seed, rooms)
    mapped = [site for site in sites if site.mapped]
    unmapped = [site for site in sites if not site.mapped]
    partitions = {site.zone_id: _partition(site.zone_id) for site in sites}
    metric_sets = [metrics for metrics, _ in TELEMETRY_MIX]
    metric_weights = [weight for _, weight in TELEMETRY_MIX]
    plan = Plan(lines=count)
    span_ms = min(count * 2, 30 * 60 * 1000)  # the last half hour at most: inside the fake's replay hour
    first = now_ms - span_ms - 5_000
    plan.first_ms = first
    with path.open("wb") as out:
        for n in range(count):
            stamp = first + n * span_ms // count + rng.randint(-400, 400)  # a real stream is not quite in order
            plan.last_ms = max(plan.last_ms, stamp)
            draw = rng.random()
            site = rng.choice(unmapped) if rng.random() < UNMAPPED_SHARE else rng.choice(mapped)
            if draw < WEBEX:
                metrics = rng.choices(metric_sets, metric_weights)[0]
                values = {metric: _metric(rng, metric) for metric in metrics}
                payload = payloads.webex_telemetry_update(site.device, site.location, payloads.telemetries(values))
                kind = "webexTelemetryUpdate"
                occupancy = [metric for metric in metrics if metric in ("presence", "peopleCount")]
                if not occupancy:
                    plan.skipped["no_occupancy_telemetry"] += 1
                elif site.mapped:
                    plan.signals += len(occupancy)
                else:
                    plan.pending += len(occupancy)
            elif draw < WEBEX + CAMERA:
                total = rng.choice([0, 0, 0, 1, 2, 3, 4, 6, 9])
                payload = payloads.camera_counts(site.location, total, rng.randint(-2, 2))
                kind = "cameraCounts"
                plan.signals += site.mapped
                plan.pending += not site.mapped
            elif draw < WEBEX + CAMERA + SPACE:
                people = rng.choice([0, 0, 1, 2, 3, 5])
                window = stamp - stamp % 60_000
                payload = payloads.space_occupancy(
                    site.location, payloads.space(site.zone_id[:24], site.name, capacity=8, space_type="ROOM"),
                    people_count=people, people_presence=people > 0, booking_status=rng.random() < 0.5,
                    peak_people_count=people + rng.randint(0, 2), window_start_ms=window, time_zone="Europe/Oslo")
                kind = "spaceOccupancy"
                plan.signals += site.mapped
                plan.pending += not site.mapped
            elif draw < WEBEX + CAMERA + SPACE + (1 - WEBEX - CAMERA - SPACE) * 0.7:
                payload = payloads.device_counts(site.location, associated_count=rng.randint(0, 30),
                                                 associated_delta=rng.randint(-3, 3),
                                                 estimated_probing_count=rng.randint(0, 50),
                                                 user_count=rng.randint(0, 20))
                kind = "deviceCounts"
                plan.skipped["not_occupancy:deviceCounts"] += 1
            else:
                payload = payloads.device_presence(
                    site.location, rng.choice(payloads.DEVICE_PRESENCE_TYPES), active_devices_count=rng.randint(0, 9),
                    in_active_devices_count=rng.randint(0, 9), entry_timestamp_ms=stamp - 60_000)
                kind = "devicePresence"
                plan.skipped["not_occupancy:devicePresence"] += 1
            plan.kinds[kind] += 1
            event = payloads.envelope(
                payloads.TYPE_OF_PAYLOAD[kind], payload, record_uid=f"{run}-{_hex(seed, 'uid', n)[:27]}",
                timestamp_ms=stamp, spaces_tenant_id=TENANT_ID, spaces_tenant_name="Bench Corp",
                partner_tenant_id=PARTNER_TENANT_ID)
            line = orjson.dumps(event)
            out.write(b"%d %d %s\n" % (stamp, partitions[site.zone_id], line))
    return plan


def _metric(rng: random.Random, metric: str) -> Any:
    if metric == "presence":
        return rng.choice([True, True, False, False, False, None])
    if metric == "peopleCount":
        return rng.choice([-1, 0, 0, 0, 1, 2, 3, 4, 5, 8])
    if metric in ("ambientNoise", "soundLevel"):
        return rng.randint(20, 60)
    if metric == "ambientTemp":
        return round(rng.uniform(19, 25), 1)
    return rng.randint(20, 70)


def _partition(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 12 + 1  # as firehose_fake.partition_of


def read_lines(path: Path, chunk: int = 100_000):
    """The generated lines in chunks of ``chunk``: (line, timestamp ms, partition)."""
    rows = []
    with path.open("rb") as source:
        for raw in source:
            stamp, partition, line = raw.rstrip(b"\n").split(b" ", 2)
            rows.append((line, int(stamp), int(partition)))
            if len(rows) >= chunk:
                yield rows
                rows = []
    if rows:
        yield rows


# --------------------------------------------------------------------------------------------------------
# The fake Firehose, in a child process
# --------------------------------------------------------------------------------------------------------


class RemoteFirehose:
    """FakeFirehose in a child process, loaded with the generated lines."""

    def __init__(self, path: Path, tls: bool):
        if tls:
            from spaces_calendar.sandbox.harness import ca_bundle_path

            ca_bundle_path()  # the test CA, before forking, so the child serves certificates from it
        context = multiprocessing.get_context("fork")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, path, tls), daemon=True)
        self._process.start()
        self.pid = self._process.pid
        ok, value = self._pipe.recv()
        if not ok:
            raise RuntimeError(f"fake Firehose process: {value}")
        self.base_url, self.loaded = value

    def stop(self) -> None:
        if self._process.is_alive():
            self._pipe.send("stop")
            self._pipe.recv()
        self._process.join(10)


def _serve(pipe: Any, path: Path, tls: bool) -> None:
    try:
        from spaces_calendar.partner.firehose_fake import FakeFirehose
        from spaces_calendar.sandbox.harness import FakeServer

        fake = FakeFirehose(FakeServer(tls=tls, name="bench-firehose"), api_keys=(API_KEY,),
                            spaces_tenant_id=TENANT_ID, partner_tenant_id=PARTNER_TENANT_ID)
        fake.keepalive_interval = 1.0
        loaded = 0
        for rows in read_lines(path):
            for line, stamp, partition in rows:
                fake.publish_raw(line, timestamp_ms=stamp, partition=partition)
            loaded += len(rows)
        gc.freeze()  # a million logged lines: keep the collector from walking them while serving
        fake.start()
        pipe.send((True, (fake.base_url, loaded)))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        pipe.send((False, repr(error)))
        return
    pipe.recv()
    fake.stop()
    pipe.send(True)


# --------------------------------------------------------------------------------------------------------
# Django and the tenant
# --------------------------------------------------------------------------------------------------------


def setup_django(data_dir: Path, batch: int | None, tls: bool) -> None:
    """Settings read the environment once, in django.setup(): point them at a throwaway data folder."""
    os.environ.update(SPACES_DATA_DIR=str(data_dir), SANDBOX="false", DEBUG="false")  # DEBUG keeps every query
    if batch is not None:
        os.environ["FIREHOSE_BATCH_SIZE"] = str(batch)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if os.environ.get("DATABASE_URL"):
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    if tls:
        from spaces_calendar.sandbox.harness import ca_bundle_path

        os.environ["OUTBOUND_CA_BUNDLE"] = ca_bundle_path()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_tenant(seed: int, rooms: int) -> int:
    """A tenant with ``rooms`` rooms, each mapped to its Spaces zone and its Webex workspace."""
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    slug = f"bench-fh-{secrets.token_hex(4)}"
    tenant = Tenant.objects.create(name="Firehose benchmark", slug=slug, time_zone="Europe/Oslo")
    sites = [site for site in places(seed, rooms) if site.mapped]
    floors: dict[int, Any] = {}
    buildings: dict[int, Any] = {}
    for site in sites:
        number = site.number // 50
        if number not in floors:
            building = site.number // 500
            if building not in buildings:
                buildings[building] = Building.objects.create(tenant=tenant, name=f"Building {building}",
                                                              time_zone="Europe/Oslo")
            floors[number] = Floor.objects.create(building=buildings[building], name=f"Floor {number % 10}",
                                                  level=number % 10)
    Room.objects.bulk_create(  # bulk_create skips Room.save(), which is what fills in tenant: set it here
        (Room(tenant=tenant, floor=floors[site.number // 50], name=site.name, capacity=8,
              email=f"room{site.number:05d}@{slug}.example.com", spaces_location_id=site.zone_id,
              webex_workspace_id=site.workspace_id) for site in sites), batch_size=500)
    return tenant.pk


# --------------------------------------------------------------------------------------------------------
# (a) orjson, (c) the stream alone, (b) the whole path
# --------------------------------------------------------------------------------------------------------


def in_child(function: Any, *args: Any) -> Any:
    """``function(*args)`` in a forked child process; its result."""
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        return pool.apply(function, args)


def plain_parse(path: Path) -> tuple[int, float]:
    """orjson.loads of every line, from memory (lines read in chunks, only the parse timed)."""
    import orjson

    loads, seconds, count = orjson.loads, 0.0, 0
    for rows in read_lines(path):
        lines = [row[0] for row in rows]
        started = time.perf_counter()
        for line in lines:
            loads(line)
        seconds += time.perf_counter() - started
        count += len(lines)
    return count, seconds


def stream_only(base_url: str, total: int, first_ms: int) -> tuple[int, float, float]:
    """Read every line from the fake with the receiver's stream reader and drop it: the delivery ceiling.
    Returns the lines, the seconds and this process's CPU seconds."""
    from firehose.stream import FirehoseStream, StreamRequest

    stream = FirehoseStream(StreamRequest(base_url, API_KEY, 1, 12, first_ms - 60_000))
    count = 0
    cpu = cpu_of()
    started = time.perf_counter()
    for group in stream.line_groups():
        count += sum(not line.startswith(b'{"recordUid":"keepalive') for line in group)
        if count >= total:
            break
    seconds = time.perf_counter() - started
    cpu = cpu_of() - cpu
    stream.close()
    return count, seconds, cpu


@dataclass
class PathRun:
    events: int = 0
    seconds: float = 0.0
    batches: list[tuple[int, float]] = field(default_factory=list)  # (events, seconds) per batch
    rss: list[tuple[int, float, float]] = field(default_factory=list)  # (events so far, RSS MiB, peak MiB)
    #: --db-breakdown: per kind of statement, [calls, backend CPU seconds, wall seconds]
    statements: dict[str, list[float]] = field(default_factory=dict)
    cpu: float = 0.0  # this process (every thread), seconds
    db_cpu: float | None = None  # the writer's PostgreSQL backend, seconds
    fake_cpu: float = 0.0


def cpu_of(pid: int | str = "self") -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def statement_kind(query: Any) -> str:
    text = " ".join(str(query if isinstance(query, str) else getattr(query, "as_string", lambda _: query)(None))
                    .split())
    for marker in (" ON CONFLICT", " SELECT * FROM unnest", " WHERE", " VALUES", " SET", " FROM"):
        if marker in text:
            text = text[:text.index(marker)]
    return "SAVEPOINT / RELEASE" if "SAVEPOINT" in text else text[:70]


@contextlib.contextmanager
def db_breakdown(run: PathRun, backend_pid: list[int]):
    """Time every statement (and commit) the writer's backend runs: its CPU and the wall time, by kind."""
    import psycopg

    execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def timed(kind: str, connection: Any, call: Any) -> Any:
        pid = connection.info.backend_pid
        if not backend_pid or pid != backend_pid[0]:
            return call()
        cpu, wall = cpu_of(pid), time.perf_counter()
        try:
            return call()
        finally:
            entry = run.statements.setdefault(kind, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += cpu_of(pid) - cpu
            entry[2] += time.perf_counter() - wall

    def traced_execute(self, query, params=None, **kwargs):  # noqa: ANN001, ANN202
        return timed(statement_kind(query), self.connection, lambda: execute(self, query, params, **kwargs))

    def traced_commit(self):  # noqa: ANN001, ANN202
        return timed("COMMIT", self, lambda: commit(self))

    psycopg.Cursor.execute, psycopg.Connection.commit = traced_execute, traced_commit
    try:
        yield
    finally:
        psycopg.Cursor.execute, psycopg.Connection.commit = execute, commit


def whole_path(base_url: str, tenant_id: int, stream: str, total: int, profile: bool,
               fake_pid: int, breakdown: bool = False) -> PathRun:
    """The receiver on the fake's stream until every event is applied; each batch timed."""
    from django.db import connection, connections

    from firehose import ledger
    from firehose.receiver import Credentials, Receiver

    run = PathRun()
    apply_prepared = ledger.apply_prepared
    receiver: Receiver

    backend: list[tuple[int, float]] = []
    backend_pid: list[int] = []

    def timed(key, batch):  # noqa: ANN001, ANN202 - the ledger's signature
        if not backend and connection.vendor == "postgresql":
            connection.ensure_connection()
            pid = connection.connection.info.backend_pid
            backend.append((pid, cpu_of(pid)))
            backend_pid.append(pid)
        started = time.perf_counter()
        outcome = apply_prepared(key, batch)
        run.batches.append((len(batch.uids), time.perf_counter() - started))
        run.events += outcome.applied + outcome.duplicates
        if len(run.batches) % 10 == 1 or run.events >= total:
            run.rss.append((run.events, *rss_mib()))
        if run.events >= total:
            run.seconds = time.perf_counter() - began
            run.cpu = cpu_of() - cpu_began
            run.fake_cpu = cpu_of(fake_pid) - fake_began
            if backend:
                run.db_cpu = cpu_of(backend[0][0]) - backend[0][1]
            receiver.stop.set()
        return outcome

    def resolve(spaces_tenant_id: str) -> int | None:
        return tenant_id if spaces_tenant_id == TENANT_ID else None

    creds = Credentials(stream, API_KEY, base_url, resolve, tenant_ids=(tenant_id,))
    receiver = Receiver(lambda: creds)
    ledger.apply_prepared = timed
    profiler = cProfile.Profile() if profile else None
    reset_rss_peak()
    cpu_began, fake_began = cpu_of(), cpu_of(fake_pid)
    began = time.perf_counter()
    try:
        if profiler is not None:
            profiler.enable()
        with db_breakdown(run, backend_pid) if breakdown else contextlib.nullcontext():
            receiver.run()
    finally:
        if profiler is not None:
            profiler.disable()
        ledger.apply_prepared = apply_prepared
        connections.close_all()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return run


def rss_mib() -> tuple[float, float]:
    """This process's resident set now and its high-water mark (VmRSS, VmHWM), MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, amount, _ = line.split()
            values[name] = int(amount) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def reset_rss_peak() -> None:
    """Start the high-water mark again from the current RSS (Linux: clear_refs 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# --------------------------------------------------------------------------------------------------------
# Checks, clean-up, the report
# --------------------------------------------------------------------------------------------------------


def stored(tenant_id: int, stream: str) -> dict[str, Any]:
    from firehose.models import Checkpoint
    from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState, SensorSource

    checkpoint = Checkpoint.objects.get(stream=stream)
    return {"applied": checkpoint.applied, "duplicates": checkpoint.duplicates, "skipped": checkpoint.skipped,
            "signals": OccupancySignal.objects.filter(tenant_id=tenant_id).count(),
            "pending": PendingSignal.objects.filter(tenant_id=tenant_id).count(),
            "states": RoomSourceState.objects.filter(room__tenant_id=tenant_id).count(),
            "sources": SensorSource.objects.filter(tenant_id=tenant_id).count()}


def cleanup(tenant_id: int, stream: str, lines_file: Path) -> None:
    """Remove the benchmark's rows from a database we do not own, in plain DELETEs (the de-dup rows by the keys of
    the records the run generated)."""
    from django.db import connection, transaction

    from firehose import ledger
    from firehose.events import BadLine, parse_line
    from firehose.models import Checkpoint, ReceiverStatus, SeenRecord
    from occupancy import bulk
    from occupancy.models import OccupancySignal, PendingSignal, RoomSourceState, SensorSource, SourceOutage
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    keys = []
    for rows in read_lines(lines_file):
        for row in rows:
            with contextlib.suppress(BadLine):
                if (event := parse_line(row[0])) is not None:
                    keys.append(ledger.record_key(event))
    rooms = f"SELECT id FROM {Room._meta.db_table} WHERE tenant_id = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (OccupancySignal, RoomSourceState):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE room_id IN ({rooms})", [tenant_id])  # noqa: S608
        for model in (PendingSignal, SensorSource, SourceOutage):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
        with bulk.binding_cursor() as keyed:
            keyed.execute(f"DELETE FROM {SeenRecord._meta.db_table} WHERE (record_timestamp_ms, uid_hash) IN "  # noqa: S608
                          "(SELECT * FROM unnest(%b::bigint[], %b::bigint[]))",
                          [[key[0] for key in keys], [key[1] for key in keys]])
        Checkpoint.objects.filter(stream=stream).delete()
        ReceiverStatus.objects.filter(stream=stream).delete()
        Room.objects.filter(tenant_id=tenant_id).delete()
        Floor.objects.filter(building__tenant_id=tenant_id).delete()
        Building.objects.filter(tenant_id=tenant_id).delete()
        Tenant.objects.filter(pk=tenant_id).delete()


def step(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text} ...", file=sys.stderr, flush=True)


def report(args: argparse.Namespace, plan: Plan, parse: tuple[int, float],
           ceiling: tuple[int, float, float] | None,
           run: PathRun, found: dict[str, Any], database: str) -> None:
    parsed, parse_s = parse
    parse_rate = parsed / parse_s
    path_rate = run.events / run.seconds if run.seconds else 0.0
    load = os.getloadavg()
    print(f"lines: {plan.lines:,}  rooms: {args.rooms:,} mapped (+ unmapped zones and workspaces)  batch: "
          f"{args.batch:,}  database: {database}  transport: {'TLS' if args.tls else 'plain HTTP'} on the loopback"
          f"  load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    print("mix: " + ", ".join(f"{kind} {count / plan.lines:.1%}" for kind, count in plan.kinds.most_common()))
    print("| measured | lines | time | rate | vs (a) |")
    print("|---|---|---|---|---|")
    print(f"| (a) plain orjson.loads of every line | {parsed:,} | {parse_s:.2f} s | {parse_rate:,.0f} lines/s "
          "| 100 % |")
    if ceiling is not None:
        count, seconds, cpu = ceiling
        print(f"| (c) the stream alone (FirehoseStream, lines dropped) | {count:,} | {seconds:.2f} s | "
              f"{count / seconds:,.0f} lines/s | {count / seconds / parse_rate:.0%} |")
    print(f"| (b) the whole path (Receiver → ledger → intake) | {run.events:,} | {run.seconds:.2f} s | "
          f"{path_rate:,.0f} events/s | {path_rate / parse_rate:.1%} |")
    tenth = max(len(run.batches) // 10, 1)
    first, last = run.batches[:tenth], run.batches[-tenth:]

    def mean_ms(rows: list[tuple[int, float]]) -> str:
        events = sum(n for n, _ in rows)
        seconds = sum(s for _, s in rows)
        return f"{seconds / len(rows) * 1000:.0f} ms ({events / seconds:,.0f} events/s inside the transaction)"

    micro = 1e6 / max(run.events, 1)
    print(f"CPU during (b): receiver process {run.cpu:.1f} s ({run.cpu * micro:.1f} µs/event), "
          + (f"its PostgreSQL backend {run.db_cpu:.1f} s ({run.db_cpu * micro:.1f} µs/event), "
             if run.db_cpu is not None else "")
          + f"fake Firehose {run.fake_cpu:.1f} s; (a) took {parse_s / parsed * 1e6:.1f} µs/line"
          + (f", (c) {ceiling[2] / ceiling[0] * 1e6:.1f} µs/line of CPU" if ceiling else ""))
    print(f"batches: {len(run.batches):,}; first 10 %: {mean_ms(first)}; last 10 %: {mean_ms(last)}; "
          f"slowest {max(s for _, s in run.batches) * 1000:.0f} ms")
    if run.statements:
        print("| statement (writer's backend) | calls | backend CPU | µs/event | wall |")
        print("|---|---|---|---|---|")
        for kind, (calls, cpu, wall) in sorted(run.statements.items(), key=lambda item: -item[1][1]):
            print(f"| {kind} | {calls:,.0f} | {cpu:.2f} s | {cpu * micro:.1f} | {wall:.2f} s |")
    if args.each_batch:
        print("batches (events, ms): " + " ".join(f"{n}:{seconds * 1000:.0f}" for n, seconds in run.batches))
    start_rss = next((row for row in run.rss if row[0] >= run.events * 0.05), run.rss[0])
    end_rss = run.rss[-1]
    print(f"receiver RSS: at {start_rss[0]:,} events {start_rss[1]:.0f} MiB (peak {start_rss[2]:.0f} MiB); "
          f"at {end_rss[0]:,} events {end_rss[1]:.0f} MiB (peak {end_rss[2]:.0f} MiB)")
    planned = dict(plan.skipped, pending_unmapped=plan.pending)
    checks = [("events applied", found["applied"], plan.lines), ("duplicates", found["duplicates"], 0),
              ("signals", found["signals"], plan.signals), ("pending signals", found["pending"], plan.pending),
              ("skipped", found["skipped"], planned)]
    print("checks: " + "; ".join(f"{name}{'' if isinstance(value, dict) else f' {value:,}'} "
                                 f"{'ok' if value == want else f'MISMATCH (planned {want})'}"
                                 for name, value, want in checks)
          + f"; room states {found['states']:,}; catalogued sources {found['sources']:,}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=None,
                        help="FIREHOSE_BATCH_SIZE (default: the setting's default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tls", action="store_true", help="serve the stream over TLS (default: plain HTTP)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip (c), the stream read alone")
    parser.add_argument("--profile", action="store_true", help="cProfile the whole path (b) (slows it down)")
    parser.add_argument("--each-batch", action="store_true", help="print every batch's size and time")
    parser.add_argument("--db-breakdown", action="store_true",
                        help="PostgreSQL: the writer's backend CPU and wall time per kind of statement")
    parser.add_argument("--keep", action="store_true", help="leave the rows in an external database, to dig in")
    args = parser.parse_args()
    if min(args.lines, args.rooms) < 1 or (args.batch is not None and not 1 <= args.batch <= 50_000):
        parser.error("--lines and --rooms must be at least 1, --batch 1-50,000")
    return args


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-firehose-"))
    fake = None
    tenant_id = None
    run_token = secrets.token_hex(4)
    stream = f"bench-{run_token}"
    try:
        step(f"generating {args.lines:,} lines for {args.rooms:,} rooms")
        lines_file = data_dir / "lines.ndjson"
        plan = generate(args.seed, args.rooms, args.lines, lines_file, int(time.time() * 1000), run_token)
        step("loading them into the fake Firehose (child process)")
        fake = RemoteFirehose(lines_file, args.tls)
        setup_django(data_dir, args.batch, args.tls)
        from django.conf import settings
        from django.db import connection, connections

        args.batch = settings.FIREHOSE_BATCH_SIZE
        step(f"creating the tenant's {args.rooms:,} rooms")
        tenant_id = make_tenant(args.seed, args.rooms)
        # (a) and (c) run in forked children: what they allocate must not count in the receiver's RSS.
        connections.close_all()
        step("(a) plain orjson.loads")
        parse = in_child(plain_parse, lines_file)
        ceiling = None
        if not args.no_ceiling:
            step("(c) the stream alone")
            ceiling = in_child(stream_only, fake.base_url, plan.lines, plan.first_ms)
        step(f"(b) the whole path, batches of {args.batch:,}")
        gc.collect()
        run = whole_path(fake.base_url, tenant_id, stream, plan.lines, args.profile, fake.pid, args.db_breakdown)
        found = stored(tenant_id, stream)
        report(args, plan, parse, ceiling, run, found, connection.vendor)
    finally:
        if fake is not None:
            fake.stop()
        if tenant_id is not None and os.environ.get("DATABASE_URL") and not args.keep:
            step("cleaning up")
            cleanup(tenant_id, stream, lines_file)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    main()
