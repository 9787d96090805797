import gc
import os
import threading

from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
application = get_wsgi_application()
# Import every view now rather than in the first request, which would otherwise wait for it: a health probe right
# after start-up, on a machine busy starting the other processes, waited seconds. gunicorn preloads this module in
# its master (spaces_calendar/gunicorn_config.py), so the port only opens once this is done.
get_resolver().url_patterns  # noqa: B018
connections.close_all()  # should anything at start-up have opened one, the forked workers must not share it

# What a web process holds for its whole life (Django and the apps at start; after the first minutes, what the
# first requests loaded and the kiosk rooms and tokens it remembers) is set aside from the cyclic garbage
# collector: its full collections otherwise scan all of it while every thread of the worker waits, 20-80 ms on the
# 2-core benchmark machine, which was most of the kiosk status p99 (benchmarks/README.md). Only objects alive at
# each freeze are set aside, and only from cyclic collection (reference counting still frees them); the cost is
# that cycles among them that die later are never collected: a few requests in flight, twice.
FREEZE_AFTER_S = (60, 300)


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def schedule_freezes() -> None:
    """Freeze again ``FREEZE_AFTER_S`` from now, in this process (gunicorn's ``post_fork`` calls it in each worker:
    a preloading master's timers do not survive the fork)."""
    for delay in FREEZE_AFTER_S:
        timer = threading.Timer(delay, _collect_and_freeze)
        timer.daemon = True
        timer.start()


gc.freeze()  # in a preloading master, before the fork: the workers inherit the frozen objects
schedule_freezes()
