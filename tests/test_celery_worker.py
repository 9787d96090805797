"""End to end with a real Celery worker process on the configured broker (SQLite file, or Redis in CI)."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from spaces_calendar.celery import app as celery_app
from spaces_calendar.core.models import WorkerHeartbeat
from tests.worker import WorkerProcess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
HOSTNAME = f"e2e@{socket.gethostname()}"


@pytest.fixture
def worker(tmp_path):
    celery_app.control.purge()  # messages left by an earlier run must not leak into this one
    process = WorkerProcess(tmp_path / "worker.log", hostname=HOSTNAME)
    yield process
    if process.process is not None:
        process.stop()


def worker_is_up() -> bool:
    return WorkerHeartbeat.objects.filter(hostname=HOSTNAME).exists()


def stale_heartbeat() -> WorkerHeartbeat:
    return WorkerHeartbeat.objects.create(hostname="celery@long-gone", pid=1,
                                          last_seen=timezone.now() - timedelta(days=3))


def test_a_worker_runs_a_task_and_its_effect_reaches_the_database(worker):
    stale = stale_heartbeat()
    worker.start()
    assert wait_for(worker_is_up), worker.log()

    celery_app.send_task("core.prune_heartbeats")

    assert wait_for(lambda: not WorkerHeartbeat.objects.filter(pk=stale.pk).exists()), worker.log()
    assert "core.prune_heartbeats" in worker.log() and "succeeded" in worker.log()


def test_a_task_sent_while_the_worker_is_down_runs_once_it_restarts(worker):
    worker.start()
    assert wait_for(worker_is_up), worker.log()
    assert worker.stop() == 0
    assert not worker_is_up(), "a cleanly stopped worker removes its heartbeat"

    stale = stale_heartbeat()
    celery_app.send_task("core.prune_heartbeats")
    assert not wait_for(lambda: not WorkerHeartbeat.objects.filter(pk=stale.pk).exists(), timeout=2)

    worker.start()
    assert wait_for(lambda: not WorkerHeartbeat.objects.filter(pk=stale.pk).exists()), worker.log()
