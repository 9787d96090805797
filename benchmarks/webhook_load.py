"""Graph change notifications under load: gunicorn as ``manage.py up`` runs it, a separate load process, loopback only.

    .venv/bin/python -m benchmarks.webhook_load                       # embedded default: SQLite + SQLite broker
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wbench CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python -m benchmarks.webhook_load                   # PostgreSQL + Redis
    .venv/bin/python -m benchmarks.webhook_load --rate 200 --seconds 20 --connections 50 --json

Server. ``process_set``'s web command (gthread, 2 workers x 4 threads, the access log written, as ``up`` runs it;
its output goes to a file in the data folder), production settings with ``LOG_LEVEL`` INFO, on a fresh data folder
(SQLite) or the given database (a tenant of its own, deleted at the end). No Celery worker or beat runs: a
notification's work in the web process ends when its room is due and a dispatch is queued; a worker would call
Graph, and this benchmark talks to nothing but 127.0.0.1. What the webhook queued is counted in the broker and left
there (give a Redis broker a database of its own, and empty it afterwards: ``redis-cli -n 13 del celery``).

Data. One Microsoft connection with ``--rooms`` linked rooms, each with a subscription (its ``clientState``
encrypted at rest, as in production). Every request is one valid, authentic change notification (the shape of
``tests/fixtures/microsoft-graph/change-notification.request.json``) for a random room, so each is answered 202
after matching the subscription, checking the secret and marking the room due.

Load. ``benchmarks/kiosk_load.py`` in its own process (asyncio, keep-alive, pre-built requests):
(a) open loop at ``--rate`` notifications/s for ``--seconds`` after a warm-up, over up to ``--connections``
connections, latency from each request's *scheduled* time (no coordinated omission); (b) closed loop, every
connection sending its next notification as soon as the last is answered: the most this machine serves, and the
latency with ``--connections`` notifications always outstanding (how the issue measured "before").
Both are bounded in count and time; before them, a few notifications on connections of their own reach every
worker once (a worker imports the views on its first request). Afterwards it checks that no notification was lost
(every 202 counted in the rooms' ``change_seq``) and counts the dispatch tasks the webhook queued.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from benchmarks.kiosk_status import (
    database_cpu,
    free_port,
    load_average,
    machine_cpu,
    percentile,
    server_cpu,
    stop_gunicorn,
)

ROOT = Path(__file__).resolve().parent.parent
URL = "/webhooks/microsoft/notifications"
ENTRA_TENANT = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
TARGETS = {"postgresql": 100.0, "sqlite": 500.0}  # p99 ms at --rate


@dataclass
class Result:
    scenario: str
    mode: str
    rate: float | None
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    server_cpu: float
    generator_cpu: float
    database_cpu: float
    other_cpu: float
    #: 202s of the whole run, warm-up included (each must be counted in a room's change_seq)
    all_accepted: int = 0


@dataclass
class Run:
    database: str
    broker: str
    rooms: int
    load_before: float
    results: list[Result] = field(default_factory=list)
    accepted: int = 0
    counted: int = 0
    dispatches_queued: int | None = None
    log_lines: int = 0
    error_lines: int = 0


def step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def setup_django(data_dir: Path) -> None:
    os.environ.update(SPACES_DATA_DIR=str(data_dir), SANDBOX="false", DEBUG="false", LOG_LEVEL="INFO",
                      DJANGO_SETTINGS_MODULE="spaces_calendar.settings")
    if os.environ.get("DATABASE_URL"):
        # gunicorn inherits these: the subscriptions' clientState is encrypted with this run's key.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    (data_dir / "static").mkdir(exist_ok=True)


def seed(rooms: int) -> tuple[int, list[tuple[str, str]]]:
    """A tenant with ``rooms`` linked rooms and their subscriptions; returns the tenant id and (id, clientState)."""
    from django.utils import timezone

    from spaces_calendar.calendars.models import (
        CalendarConnection,
        CalendarLink,
        ConnectionStatus,
        Provider,
        Subscription,
    )
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    tag = secrets.token_hex(4)
    tenant = Tenant.objects.create(name=f"Webhook bench {tag}", slug=f"webhook-bench-{tag}", time_zone="Europe/Oslo")
    building = Building.objects.create(tenant=tenant, name="HQ", time_zone="Europe/Oslo")
    floor = Floor.objects.create(building=building, name="1", level=1)
    room_rows = Room.objects.bulk_create(Room(tenant=tenant, floor=floor, name=f"Room {n}",
                                                              email=f"room{n}-{tag}@bench.example.com")
                                         for n in range(rooms))
    connection = CalendarConnection.objects.create(tenant=tenant, provider=Provider.MICROSOFT,
                                                   external_tenant_id=ENTRA_TENANT, status=ConnectionStatus.ACTIVE)
    later = timezone.now() + timedelta(hours=20)
    links = CalendarLink.objects.bulk_create(
        CalendarLink(connection=connection, room=room, external_calendar_id=room.email, next_sync_at=later,
                     sync_state="https://graph.microsoft.com/v1.0/delta?$deltatoken=bench") for room in room_rows)
    subscriptions = [Subscription(link=link, external_id=f"{tag}-{n:08d}-0000-0000-0000-000000000000",
                                  resource=f"/users/{link.external_calendar_id}/events",
                                  client_state=secrets.token_urlsafe(24), expires_at=later + timedelta(days=5))
                     for n, link in enumerate(links)]
    Subscription.objects.bulk_create(subscriptions)
    return tenant.pk, [(subscription.external_id, subscription.client_state) for subscription in subscriptions]


def notification(subscription_id: str, client_state: str, rng: random.Random) -> str:
    """One change notification as Graph sends it (basic, no resource data)."""
    event = base64.urlsafe_b64encode(rng.randbytes(48)).decode().rstrip("=")
    return json.dumps({"value": [{
        "subscriptionId": subscription_id, "subscriptionExpirationDateTime": "2030-01-01T00:00:00.000Z",
        "changeType": "updated", "resource": f"Users/room/Events/{event}", "clientState": client_state,
        "tenantId": ENTRA_TENANT,
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": f"Users/room/Events/{event}",
                         "@odata.etag": 'W/"DwAAABYAAAA"', "id": event},
    }]})


def start_gunicorn(port: int, workers: int, log: Path, tree: Path) -> subprocess.Popen:
    """gunicorn exactly as ``manage.py up`` runs it (access log included), serving the code in ``tree``; its output
    goes to ``log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # The web command of that tree's own `up` (the command line changes between versions: the access log's class).
    script = ("import json, django; django.setup(); from spaces_calendar.core.management.commands.up import "
              f"process_set; print(json.dumps(process_set({port}, {workers}, 1)['web']))")
    argv = json.loads(subprocess.run([sys.executable, "-c", script], cwd=tree, env=env, check=True,  # noqa: S603
                                     capture_output=True, text=True).stdout.splitlines()[-1])
    argv += ["--no-control-socket"]
    with log.open("ab") as out:
        # `python -m gunicorn` puts its working folder first on sys.path: the web process runs `tree`'s code.
        server = subprocess.Popen(argv, cwd=tree, env=env, stdout=out, stderr=out)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{tail}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{URL}", timeout=2)  # noqa: S310 - loopback
        except urllib.error.HTTPError as error:
            if error.code == 405:  # the webhook answers (it takes POSTs only)
                return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def prime(port: int, targets: list, count: int) -> int:
    """A few notifications, each on a connection of its own (so on every worker), before any load: a gunicorn worker
    imports the views on its first request, and the first seconds of an open loop would measure that backlog."""
    accepted = 0
    for path, headers, body in targets[:count]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(), method="POST",
                                         headers={"Content-Type": headers.split(": ", 1)[1].strip()})
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            accepted += answer.status == 202
    return accepted


def run_load(name: str, mode: str, server: subprocess.Popen, port: int, targets: list, args: argparse.Namespace,
             rate: float | None, seconds: float) -> Result:
    step(f"{name}: {args.warmup:g} s warm-up + {seconds:g} s")
    config = {"host": "127.0.0.1", "port": port, "mode": mode, "connections": args.connections,
              "warmup_s": args.warmup, "duration_s": seconds, "targets": targets, "rate": rate or 0,
              "seed": args.seed}
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.kiosk_load"], cwd=ROOT,  # noqa: S603
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    process.stdin.write(json.dumps(config) + "\n")
    process.stdin.flush()
    if (line := process.stdout.readline().strip()) != "ready":
        raise RuntimeError(f"load generator failed to start: {line!r}")
    start = time.time() + 0.3
    process.stdin.write(f"go {start}\n")
    process.stdin.flush()
    low = start + args.warmup
    time.sleep(max(low - time.time(), 0))
    server0, database0, machine0 = server_cpu(server), database_cpu(), machine_cpu()
    time.sleep(max(low + seconds - time.time(), 0))
    server1, database1, machine1 = server_cpu(server), database_cpu(), machine_cpu()
    report = json.loads(process.stdout.readline())
    process.wait(timeout=30)
    latencies = sorted(report["latencies_us"])
    statuses = dict(report["statuses"])
    if report["unanswered"]:
        statuses["unanswered"] = report["unanswered"]
    used = {"server": (server1 - server0) / seconds, "database": max(database1 - database0, 0.0) / seconds,
            "generator": (report["cpu_s"] or 0) / seconds, "machine": (machine1 - machine0) / seconds}
    return Result(
        scenario=name, mode=mode, rate=rate, connections=args.connections, seconds=seconds,
        requests=report["completed"], rps=report["completed"] / seconds, p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99), max_ms=latencies[-1] / 1000 if latencies else 0.0, statuses=statuses,
        server_cpu=used["server"], generator_cpu=used["generator"], database_cpu=used["database"],
        other_cpu=max(used["machine"] - used["server"] - used["generator"] - used["database"], 0.0),
        all_accepted=report["all_statuses"].get("202", 0),
    )


def queued_dispatches(broker: str, before: int | None = None) -> int | None:
    """Dispatch tasks waiting in the broker (no worker runs): the SQLite broker's message rows, Redis' queue."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith("sqla+sqlite:///"):
        import sqlite3

        path = url.removeprefix("sqla+sqlite:///")
        if not Path(path).exists():
            return 0
        with sqlite3.connect(path) as db:
            try:
                return db.execute("SELECT count(*) FROM kombu_message WHERE visible").fetchone()[0]
            except sqlite3.OperationalError:  # no table yet: nothing was ever queued
                return 0
    if url.startswith(("redis://", "rediss://")):
        import redis

        return redis.Redis.from_url(url).llen("celery")
    return None


def counted_hints(tenant_id: int) -> int:
    from django.db.models import Sum

    from spaces_calendar.calendars.models import CalendarLink

    return CalendarLink.objects.filter(connection__tenant_id=tenant_id).aggregate(n=Sum("change_seq"))["n"] or 0


def cleanup(tenant_id: int) -> None:
    from spaces_calendar.calendars.models import CalendarConnection
    from spaces_calendar.core.models import Building, Floor, Room, Tenant

    CalendarConnection.objects.filter(tenant_id=tenant_id).delete()  # links and subscriptions with it
    Room.objects.filter(tenant_id=tenant_id).delete()
    Floor.objects.filter(building__tenant_id=tenant_id).delete()
    Building.objects.filter(tenant_id=tenant_id).delete()
    Tenant.objects.filter(pk=tenant_id).delete()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0, help="notifications/s in the open loop")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window of the open loop")
    parser.add_argument("--closed-seconds", type=float, default=10.0, help="measured window of the closed loop "
                                                                           "(0: skip it)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=None,
                        help="gunicorn workers (default: WEB_WORKERS, as manage.py up starts them)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the tenant in an external database")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="serve the code of another checkout (`git archive <commit> | tar -x -C DIR`), to "
                             "measure an earlier version against the same data and load")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    tenant_id = None
    try:
        setup_django(data_dir)
        from django.conf import settings
        from django.db import connection

        if args.web_workers is None:
            args.web_workers = settings.WEB_WORKERS
        broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
        run = Run(database=connection.vendor, broker=broker, rooms=args.rooms, load_before=load_average())
        step(f"seeding {args.rooms} linked rooms on {connection.vendor}, broker {broker}")
        tenant_id, subscriptions = seed(args.rooms)
        rng = random.Random(args.seed)
        targets = [[URL, "Content-Type: application/json\r\n", notification(sid, state, rng)]
                   for sid, state in subscriptions for _ in range(2)]
        queued_before = queued_dispatches(broker) or 0
        port, log = free_port(), data_dir / "gunicorn.log"
        step(f"starting gunicorn on port {port}")
        server = start_gunicorn(port, args.web_workers, log, args.tree.resolve())
        try:
            run.accepted = prime(port, targets, 10 * args.web_workers)
            run.results.append(run_load(f"(a) open loop, {args.rate:g}/s", "open", server, port, targets, args,
                                        args.rate, args.seconds))
            if args.closed_seconds > 0:
                run.results.append(run_load(f"(b) closed loop, {args.connections} connections", "closed", server,
                                            port, targets, args, None, args.closed_seconds))
        finally:
            stop_gunicorn(server)
        queued = queued_dispatches(broker)
        run.dispatches_queued = None if queued is None else queued - queued_before
        run.counted = counted_hints(tenant_id)
        run.accepted += sum(result.all_accepted for result in run.results)
        text = log.read_text(errors="replace").splitlines()
        run.log_lines = len(text)
        errors = [line for line in text if '"ERROR"' in line or "Traceback" in line or "[CRITICAL]" in line]
        run.error_lines = len(errors)
        for line in errors[:3]:
            step(f"gunicorn log: {line[:300]}")
        report(run, args)
    finally:
        try:
            if tenant_id is not None and os.environ.get("DATABASE_URL") and not args.keep:
                step("deleting the benchmark's tenant")
                cleanup(tenant_id)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def report(run: Run, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(asdict(run), indent=2))
        return
    target = TARGETS.get(run.database)
    tree = "" if args.tree.resolve() == ROOT else f", code from {args.tree}"
    print(f"\n{run.database} + {run.broker} broker, {run.rooms} rooms, gunicorn gthread {args.web_workers} x 4{tree}, "
          f"load average {run.load_before:.2f} at the start")
    print("| scenario | notifications/s | p50 | p99 | max | statuses | CPU: gunicorn / generator / database / other |")
    print("|---|---|---|---|---|---|---|")
    for result in run.results:
        statuses = ", ".join(f"{n:,} x {status}" for status, n in sorted(result.statuses.items()))
        print(f"| {result.scenario} | {result.rps:,.0f} | {result.p50_ms:.1f} ms | {result.p99_ms:.1f} ms | "
              f"{result.max_ms:.0f} ms | {statuses} | {result.server_cpu:.2f} / {result.generator_cpu:.2f} / "
              f"{result.database_cpu:.2f} / {result.other_cpu:.2f} |")
    open_loop = run.results[0]
    if target is not None:
        verdict = "met" if open_loop.p99_ms < target and set(open_loop.statuses) == {"202"} else "missed"
        print(f"\nTarget p99 < {target:g} ms at {args.rate:g}/s: {verdict} ({open_loop.p99_ms:.1f} ms).")
    # More counted than answered: requests the server handled after the generator stopped waiting for them.
    lost = "none lost" if run.counted >= run.accepted else f"{run.accepted - run.counted:,} LOST"
    print(f"Notifications answered 202 (warm-ups included): {run.accepted:,}; counted in the rooms' change_seq: "
          f"{run.counted:,} ({lost}); dispatch tasks queued by the webhook: {run.dispatches_queued}; "
          f"gunicorn log: {run.log_lines:,} lines, {run.error_lines} errors.")


if __name__ == "__main__":
    main()
