"""The project's URLconf plus ``/bench/constant``: a constant JSON answer, the ceiling of ``benchmarks.kiosk_status``.

The ceiling goes through the same gunicorn worker, the same middleware and URL resolution as the kiosk API (listed
first, it resolves one step sooner than the status URL, which resolves as in production), and answers a room
status document as a constant. Only ``benchmarks/kiosk_settings.py`` uses this module.
"""

import os

from django.http import HttpRequest, JsonResponse
from django.urls import path

from spaces_calendar import urls as project_urls

#: A room status document as the API sends it (about 600 bytes), as a constant.
CONSTANT = {
    "data_age_s": 28,
    "room": {"id": 4, "name": "Room 00003", "capacity": 20, "time_zone": "Europe/Oslo", "floor": {"id": 1, "name": "1"},
             "building": {"id": 1, "name": "B1"}},
    "state": "free",
    "current_booking": {"start": "2026-11-22T03:36:00Z", "end": "2026-11-22T05:06:00Z", "all_day": False,
                        "subject": "Customer call"},
    "next_booking": {"start": "2026-11-22T06:06:00Z", "end": "2026-11-22T06:36:00Z", "all_day": False,
                     "subject": "Weekly sync"},
    "free_until": "2026-11-22T06:06:00Z",
    "busy_until": None,
    "occupancy": {"state": "empty", "people_count": 0, "observed_at": "2026-11-22T04:57:36Z", "sources": ["webex"]},
    "source": {"calendar": True, "sensors": ["webex"]},
}


def constant(request: HttpRequest) -> JsonResponse:
    return JsonResponse(CONSTANT)


def worker(request: HttpRequest) -> JsonResponse:
    """Which gunicorn worker holds this connection, once its kiosk change feed listens (the load generator primes
    each worker's memory of the rooms through connections it knows to be on that worker)."""
    from occupancy.kiosk import changes

    feed = changes.feed()
    live = feed.wait_live(10) if feed is not None else False
    return JsonResponse({"pid": os.getpid(), "change_feed": live})


# The project's patterns themselves, not an include() of them: the kiosk URLs resolve exactly as in production.
urlpatterns = [path("bench/constant", constant, name="bench-constant"), path("bench/worker", worker),
               *project_urls.urlpatterns]
