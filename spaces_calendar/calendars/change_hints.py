"""Change hints from providers' webhooks: rooms marked due in one UPDATE, the dispatch queued once per window.

A notification makes its rooms due ``CALENDAR_NOTIFICATION_DEBOUNCE_S`` later (``sync.request_sync``; hints for one
room within that time become one sync). Queuing a dispatch per notification cost a broker write per request (the
slowest part of the webhook under load, on the SQLite broker above all), so each web process queues one dispatch
per window instead: every notification of the window ``[k·D, (k+1)·D)`` makes its rooms due by ``(k+2)·D`` at the
latest, and the one dispatch queued for ``(k+2)·D`` claims them all. No hint is lost: the rooms are due in the
database whether or not a dispatch was queued, and if queuing fails beat's periodic dispatch claims them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime

from django.conf import settings

from spaces_calendar.core.tasks_seam import enqueue

from .sync import request_sync

logger = logging.getLogger(__name__)
#: Queued this much after the grid point, so that a worker whose clock is slightly behind still finds the
#: rooms due (anything missed is claimed by beat's periodic dispatch, 15 s later at most).
SLACK_S = 0.25

_lock = threading.Lock()
_queued_for: float | None = None


def dispatch_time(now: float, debounce_s: float) -> float:
    """The end of the window after the one ``now`` is in: at or after ``now + debounce_s`` for every ``now`` of the
    window, so a room made due by a hint in this window is due by then."""
    return math.floor(now / debounce_s + 1) * debounce_s + debounce_s


def rooms_changed(link_ids: list[int]) -> int:
    """The provider says these links changed: make them due after the debounce and make sure a dispatch is queued
    for then. Returns how many links were marked."""
    marked = request_sync(link_ids)
    if marked:
        dispatch_after_debounce()
    return marked


def dispatch_after_debounce(now: float | None = None) -> bool:
    """Queue ``calendars.dispatch_due_syncs`` for the end of the next window unless this process already did;
    returns whether it queued one."""
    global _queued_for
    debounce = float(settings.CALENDAR_NOTIFICATION_DEBOUNCE_S)
    now = time.time() if now is None else now
    if debounce <= 0:
        return _enqueue(None)
    when = dispatch_time(now, debounce)
    with _lock:  # only the marker: the broker write happens outside, so other threads never wait for it
        if _queued_for == when:  # equality, not >=: a clock stepped back must not silence the dispatch
            return False
        previous, _queued_for = _queued_for, when
    if _enqueue(datetime.fromtimestamp(when + SLACK_S, tz=UTC)):
        return True
    with _lock:  # not queued: let the next hint try again
        if _queued_for == when:
            _queued_for = previous
    return False


def _enqueue(eta: datetime | None) -> bool:
    """The rooms are already due in the database; if the broker is briefly down, beat's next dispatch claims them,
    so a failed enqueue must not turn into a 500 that makes the provider retry."""
    return enqueue("calendars.dispatch_due_syncs", eta=eta,
                   consequence="beat's periodic dispatch will claim the rooms")
