"""Rebuilding the documents that run out of time together, in one batch instead of one poll at a time.

Bookings start and end on the hour and the half hour, so at 10:00 the documents of most rooms run out in the same
second (and the tenant's, when a rules change drops them). Rebuilt one per poll, each costs a handful of queries:
on the 2-core benchmark machine about 90 rooms a second, so 5,000 room panels polling every 15 s would pile up
for most of a minute. Built in batches (``documents.rebuild``) a room costs a small fraction of that.

So the first poll that finds its room's document out of date rebuilds, in one batch, every room of the tenant
whose document is missing or out of time (up to ``SWEEP_ROOMS``, in random order so that two web processes doing
the same mostly take different rooms). One batch at a time per process: a poll that finds a batch under way waits
for it, then reads its room again and, if the batch did not have it, rebuilds its room alone (making it wait for
a batch of its own as well queued every poll behind the batches: 3.4 s instead of 0.7 s at the median in the
benchmark's :00 scenario). The rooms of a batch are remembered (``memory``) as if each had been polled. A document
out of date because its room changed (a fingerprint) is rebuilt the same way; there are rarely others then.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from . import changes, documents, memory, queries
from .queries import Entry, RoomRow

SWEEP_ROOMS = 500
#: The longest a poll waits for another thread's batch before rebuilding its own room alone.
WAIT_S = 10.0

_lock = threading.Lock()


def entry_for(row: RoomRow, now_ts: float) -> Entry | None:
    """The room's document, rebuilt now (None: the room was deleted meanwhile)."""
    if _lock.acquire(blocking=False):
        try:
            return _batch(row, now_ts)
        finally:
            _lock.release()
    # Waiting for a second batch after this one would queue every poll behind them: read again, else alone.
    if _lock.acquire(timeout=WAIT_S):
        _lock.release()
    again = queries.room_row(row.room_id, now_ts)
    if again is None or again.tenant_id != row.tenant_id:
        return None
    if again.entry is not None:
        return again.entry
    entries = documents.current_entries([again], _moment(now_ts))
    return entries[0] if entries else None


def _batch(row: RoomRow, now_ts: float) -> Entry | None:
    stamp = changes.ticket()  # before the batch reads anything
    others = [due for due in queries.out_of_date(row.tenant_id, now_ts, SWEEP_ROOMS) if due.room_id != row.room_id]
    entries = documents.rebuild([row.room_id, *(due.room_id for due in others)], _moment(now_ts))
    for due in others:
        if due.room_id in entries:
            memory.remember(due, entries[due.room_id], stamp, now_ts)
    return entries.get(row.room_id)


def _moment(now_ts: float) -> datetime:
    return datetime.fromtimestamp(now_ts, UTC)
