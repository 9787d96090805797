"""Celery signal handlers: our logging config in workers, and the task id on every log line."""

from __future__ import annotations

import logging.config

from celery import signals
from django.conf import settings

from spaces_calendar.core.logging import task_id_var

_tokens = {}


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def tag_task(task_id=None, **kwargs) -> None:
    _tokens[task_id] = task_id_var.set(task_id)


@signals.task_postrun.connect
def untag_task(task_id=None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        task_id_var.reset(token)
