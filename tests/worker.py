"""A real Celery worker process for end-to-end tests, on the same test database and broker as the test run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    credentials = quote(params["USER"] or "", safe="")
    if params["PASSWORD"]:
        credentials += ":" + quote(params["PASSWORD"], safe="")
    host = f"{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{params['NAME']}"


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class WorkerProcess:
    def __init__(self, log_path: Path, hostname: str = "e2e@%h", env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.hostname = hostname
        #: Settings for the worker's process, e.g. provider URLs pointing at a fake.
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "TEST_DATABASE_URL": test_database_url(),
            "TEST_BROKER_URL": settings.CELERY_BROKER_URL,
            "WORKER_HEARTBEAT_INTERVAL": "1",
            **self.env,
        }
        log = self.log_path.open("a")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "spaces_calendar", "worker", "--loglevel", "INFO",
             "--concurrency", "1", "--without-mingle", "--without-gossip", "--hostname", self.hostname],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a SIGKILL can take the pool children with it
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            if sig == signal.SIGKILL:  # a crash: the main process and its pool children die at once
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
