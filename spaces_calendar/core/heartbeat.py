"""Worker liveness: each worker writes a heartbeat row on a timer (the embedded broker has no remote ping)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from celery import bootsteps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from spaces_calendar.core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def record_heartbeat(hostname: str) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"pid": os.getpid(), "last_seen": timezone.now()}
    )


def forget_worker(hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname).delete()


def prune_heartbeats(older_than: timedelta = timedelta(days=1)) -> int:
    """Drop rows of workers that died without saying goodbye."""
    deleted, _ = WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - older_than).delete()
    return deleted


class HeartbeatStep(bootsteps.StartStopStep):
    """Runs in the worker's main process after the pool has forked, so no child inherits its connection."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        self._beat(worker.hostname)
        self.tref = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_INTERVAL, self._beat, (worker.hostname,))

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
        try:
            forget_worker(worker.hostname)
        finally:
            connection.close()

    @staticmethod
    def _beat(hostname: str) -> None:
        try:
            record_heartbeat(hostname)
        except Exception:  # a missed beat shows up in /healthz; it must not kill the worker's event loop
            logger.exception("could not record worker heartbeat")
        finally:
            connection.close()
