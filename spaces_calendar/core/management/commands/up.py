"""Run the whole service with one command: prepare the database, then supervise web, worker, beat and firehose
(and, in the sandbox, the fake providers they talk to).

honcho does the supervising: prefixed output per process, Ctrl-C or SIGTERM stops them all, and if one process
dies the others are stopped too, so a half-running service never passes for a healthy one. Each process gets
``UP_STOP_TIMEOUT_S`` to stop before it is killed (``spaces_calendar.core.supervisor``).
"""

from __future__ import annotations

import os
import shlex
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from honcho.printer import Printer

from spaces_calendar.core.supervisor import Supervisor
from spaces_calendar.sandbox.runner import prepare_ca


def process_set(port: int, workers: int, concurrency: int, *, sandbox: bool = False) -> dict[str, list[str]]:
    python = sys.executable
    # First, so the fakes are usually listening before anything calls them (the app copes if they are not yet).
    fakes = {"sandbox": [python, "manage.py", "run_sandbox"]} if sandbox else {}
    return {
        **fakes,
        # The rest of gunicorn's settings (preloading, the access log's redaction) are in its config module.
        "web": [python, "-m", "gunicorn", "spaces_calendar.wsgi", "--config", "python:spaces_calendar.gunicorn_config",
                "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", str(workers),
                "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "10"],
        "worker": [python, "-m", "celery", "-A", "spaces_calendar", "worker", "--loglevel", "INFO",
                   "--concurrency", str(concurrency), "--without-mingle", "--without-gossip"],
        "beat": [python, "-m", "celery", "-A", "spaces_calendar", "beat", "--loglevel", "INFO",
                 "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        "firehose": [python, "manage.py", "run_firehose"],
    }


class Command(BaseCommand):
    help = "Migrate, create the first admin, seed the sandbox, then run web + worker + beat + firehose (+ sandbox)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--web-workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, web_workers: int, concurrency: int, **options) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("ensure_admin")
        if settings.SANDBOX:
            call_command("seed_sandbox")
            call_command("seed_occupancy_demo")  # by name: the core does not import the occupancy app
            prepare_ca(settings.SANDBOX_CA_DIR)  # the CA file the app trusts exists before any process starts
            self.stdout.write(self.style.WARNING("SANDBOX: no provider credentials set; providers are simulated."))
        self.stdout.write(f"Serving on http://127.0.0.1:{settings.PORT}  (Ctrl-C stops everything)")
        self.stdout.flush()

        manager = Supervisor(Printer(sys.stdout), stop_timeout_s=settings.UP_STOP_TIMEOUT_S)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, argv in process_set(settings.PORT, web_workers, concurrency, sandbox=settings.SANDBOX).items():
            # exec: the process honcho signals is the program itself, not a shell waiting for it (see Supervisor).
            manager.add_process(name, f"exec {shlex.join(argv)}", env=env, cwd=str(settings.BASE_DIR))
        manager.loop()
        sys.exit(manager.returncode)

