"""How many tasks per second the configured broker moves: publish N tasks, then let one worker drain them.

Run from the project root:  .venv/bin/python -m benchmarks.broker_throughput [--tasks 1000]
It uses a throwaway data folder, so it measures the embedded default (SQLite broker) unless CELERY_BROKER_URL
points elsewhere (e.g. redis://127.0.0.1:6379/14) to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    os.environ["SPACES_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from spaces_calendar.celery import app

    call_command("migrate", verbosity=0)
    app.control.purge()
    started = time.perf_counter()
    for _ in range(args.tasks):
        app.send_task("core.prune_heartbeats")
    publish_s = time.perf_counter() - started

    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "spaces_calendar", "worker", "--loglevel", "WARNING",
         "--concurrency", str(args.concurrency), "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    conn = app.connection_for_read()
    channel = conn.default_channel
    try:
        first_drop, drained = None, None
        while drained is None:
            remaining = channel._size("celery")  # both compared transports are kombu virtual ones
            now = time.perf_counter()
            if first_drop is None and remaining < args.tasks:
                first_drop = now
            if remaining == 0:
                drained = now
            time.sleep(0.05)
    finally:
        conn.release()
        worker.terminate()
        worker.wait(60)
    drain_s = drained - first_drop
    print(f"broker: {settings.CELERY_BROKER_URL.split(':', 1)[0]}  tasks: {args.tasks}  "
          f"worker concurrency: {args.concurrency}")
    print(f"publish: {args.tasks / publish_s:,.0f} tasks/s   consume (one worker): {args.tasks / drain_s:,.0f} tasks/s")


if __name__ == "__main__":
    main()
