"""The Celery application. Tasks live next to the code they drive (``<app>/tasks.py``)."""

import os

from celery import Celery

from spaces_calendar.core.broker import install as install_sqlite_broker

install_sqlite_broker()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")

app = Celery("spaces_calendar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# By name: the step imports models, which must wait until Django is set up inside the worker.
app.steps["worker"].add("spaces_calendar.core.heartbeat:HeartbeatStep")
