"""The one way services queue Celery tasks: by the task's stable name, after the transaction commits.

A service that imported its own ``tasks`` module (to call ``task.delay``) made an import loop, because the tasks
import the services they call; the loops were held together by imports inside functions. Queuing by name needs
no import at all: the worker resolves the name. A task queued inside a transaction waits for the commit, so the
worker never looks for a row that is not there yet, and a rolled-back change queues nothing.

A broker that is down never undoes the change that asked for the task: the failure is logged with what it means
(``consequence``) and the caller carries on; every task queued here is also covered by beat or a rebuild. With
``task_always_eager`` (the tests' ``eager_tasks``) the task runs inline instead, and its errors propagate.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task_name: str, *args: Any, eta: datetime | None = None, consequence: str = "") -> bool:
    """Queue ``task_name`` now; returns False (and logs) when the broker refused it."""
    app = current_app
    if app.conf.task_always_eager:
        _registered(app, task_name).apply_async(args=args, eta=eta)
        return True
    try:
        app.send_task(task_name, args=args, eta=eta)
    except Exception:  # noqa: BLE001 - any broker failure; logged with its traceback
        logger.exception("could not enqueue %s%r%s", task_name, args, f"; {consequence}" if consequence else "")
        return False
    return True


def enqueue_on_commit(task_name: str, *args: Any, consequence: str = "") -> None:
    """Queue ``task_name`` once the current transaction commits (at once outside one); nothing on rollback."""
    transaction.on_commit(lambda: enqueue(task_name, *args, consequence=consequence))


def _registered(app: Any, task_name: str) -> Any:
    """The task object, for running it inline. Importing every app's ``tasks`` module (what a worker does at
    start) registers it if nothing in this process has imported it yet."""
    if task_name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[task_name]
