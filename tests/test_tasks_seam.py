"""The enqueue-on-commit seam: a task is queued by its name once the change that asked for it commits, never for a
change that rolled back, inline under ``eager_tasks``, and a broker that is down never undoes the change."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from celery.signals import before_task_publish
from django.db import transaction
from kombu.exceptions import OperationalError

from spaces_calendar.celery import app as celery_app
from spaces_calendar.core.models import Tenant
from spaces_calendar.core.tasks_seam import enqueue, enqueue_on_commit
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)  # real commits and rollbacks, so on_commit really fires


@pytest.fixture
def published():
    """(task name, args) of every message sent to the broker (Celery's own signal: the messages still go out)."""
    sent: list[tuple[str, list]] = []

    def keep(sender=None, body=None, **kwargs):
        sent.append((sender, list(body[0])))

    before_task_publish.connect(keep, weak=False)
    yield sent
    before_task_publish.disconnect(keep)


def test_it_queues_the_task_by_name_only_when_the_transaction_commits(published):
    with transaction.atomic():
        make_tenant("Acme")
        enqueue_on_commit("core.prune_heartbeats", 7, "x")
        assert published == [], "nothing before the commit"

    assert published == [("core.prune_heartbeats", [7, "x"])]


def test_a_rolled_back_change_queues_nothing(published):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_tenant("Acme")
        enqueue_on_commit("core.prune_heartbeats")
        raise RuntimeError("the change fails")

    assert published == [] and not Tenant.objects.exists()


def test_a_rolled_back_savepoint_drops_only_its_own_tasks(published):
    with transaction.atomic():
        enqueue_on_commit("core.prune_heartbeats", "kept")
        try:
            with transaction.atomic():
                enqueue_on_commit("core.prune_heartbeats", "dropped")
                raise RuntimeError("the inner change fails")
        except RuntimeError:
            pass

    assert published == [("core.prune_heartbeats", ["kept"])]


def test_outside_a_transaction_it_queues_at_once(published):
    enqueue_on_commit("core.prune_heartbeats", 1)

    assert published == [("core.prune_heartbeats", [1])]


def test_with_eager_tasks_the_task_runs_inline_after_the_commit(eager_tasks, ran, published):
    with transaction.atomic():
        enqueue_on_commit("core.prune_heartbeats")
        assert ran == []

    assert ran == [("core.prune_heartbeats", [])]
    assert published == [], "nothing went to the broker"


def test_a_broker_that_is_down_keeps_the_change_and_says_what_follows(caplog):
    with mock.patch.object(celery_app, "send_task", side_effect=OperationalError("broker down")), \
            caplog.at_level(logging.ERROR, "spaces_calendar.core.tasks_seam"):
        with transaction.atomic():
            make_tenant("Acme")
            enqueue_on_commit("core.prune_heartbeats", 3, consequence="beat prunes them at its next run")
        queued = enqueue("core.prune_heartbeats")

    assert Tenant.objects.filter(name="Acme").exists()
    assert queued is False
    assert "could not enqueue core.prune_heartbeats(3,); beat prunes them at its next run" in caplog.text
