import gc
import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_calendar.settings")
application = get_wsgi_application()

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


gc.freeze()
for _delay in FREEZE_AFTER_S:
    _timer = threading.Timer(_delay, _collect_and_freeze)
    _timer.daemon = True
    _timer.start()
