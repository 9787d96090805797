import pytest
from celery.signals import task_prerun

from occupancy import sensors
from tests.factories import make_room, make_tenant


@pytest.fixture(autouse=True)
def _fresh_sensor_catalogue_memory():
    """``sensors.note_seen`` remembers per process what it wrote, which a rolled-back test leaves behind."""
    sensors.forget_written()
    yield
    sensors.forget_written()


@pytest.fixture
def two_tenants(db):
    """Two tenants with a room each: every scoping test proves one cannot see the other."""
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    return {
        "acme": acme,
        "globex": globex,
        "acme_room": make_room(acme, "Acme Boardroom"),
        "globex_room": make_room(globex, "Globex War Room"),
    }


@pytest.fixture
def client_factory():
    from django.test import Client

    return Client


@pytest.fixture
def eager_tasks():
    """Task wiring only: run tasks inline so a test can see what a view or a function enqueued do its work."""
    from spaces_calendar.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


@pytest.fixture
def ran():
    """(task name, args) of every task that ran in this process (eager mode: ``eager_tasks``)."""
    started: list[tuple[str, list]] = []

    def keep(sender=None, args=None, **kwargs):
        started.append((sender.name, list(args)))

    task_prerun.connect(keep, weak=False)
    yield started
    task_prerun.disconnect(keep)
