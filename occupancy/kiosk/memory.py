"""The rooms a web process remembers while the change feed is live (``changes``): a poll that finds its room here
(and its token in ``tokens``) is answered without a query.

A room is remembered with its current document only, until the first of: a change heard for it, the document's
``valid_until_ts``, ``KIOSK_CHANGE_FEED_TRUST_S``. Without a live feed (SQLite, a lost connection) nothing is kept
and ``room`` is ``queries.room_row``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from . import changes, queries
from .conf import kiosk_settings
from .queries import Entry, RoomRow

_LIMIT = 100_000  # rooms; past it everything is dropped (a bound on memory, far above any tenant's room count)


@dataclass(frozen=True)
class Lookup:
    """A room as read (None: no such room), and the ticket to remember it with once its document is known."""

    row: RoomRow | None
    ticket: changes.Ticket | None = None
    remembered: bool = False


_rooms: dict[int, tuple[RoomRow, float]] = {}  # room id -> (row with its entry, epoch seconds it may be served to)


def _drop(key: str | None) -> None:
    if key is None:
        _rooms.clear()
    elif key.startswith("r:"):
        with contextlib.suppress(ValueError):  # a payload we do not know: nothing of ours
            _rooms.pop(int(key[2:]), None)


changes.subscribe(_drop)


def key(room_id: int) -> str:
    return f"r:{room_id}"


def recall(room_id: int, now_ts: float) -> RoomRow | None:
    """The remembered room, if it may still be served."""
    held = _rooms.get(room_id)
    if held is None or held[1] <= now_ts:
        return None
    return held[0]


def ticket(room_id: int) -> changes.Ticket | None:
    """Take before reading the room in a query of your own (``queries.token_and_room``)."""
    feed = changes.feed()
    return feed.ticket(key(room_id)) if feed is not None else None


def room(room_id: int, now_ts: float) -> Lookup:
    """The room from memory, else from the database (one query) with a ticket to remember it by."""
    feed = changes.feed()
    if feed is None:
        return Lookup(queries.room_row(room_id, now_ts))
    row = recall(room_id, now_ts) if feed.live else None
    if row is not None:
        return Lookup(row, remembered=True)
    ticket = feed.ticket(key(room_id))
    return Lookup(queries.room_row(room_id, now_ts), ticket)


def remember(row: RoomRow, entry: Entry, ticket: changes.Ticket | None, now_ts: float) -> None:
    """Keep ``row`` with its current ``entry`` if no change of the room was heard since ``ticket``."""
    feed = changes.feed()
    if feed is None or ticket is None:
        return
    until = min(entry.valid_until_ts, now_ts + kiosk_settings().change_feed_trust_s)
    held = (RoomRow(row.room_id, row.tenant_id, row.floor_id, row.building_id, entry), until)

    def keep() -> None:
        if len(_rooms) >= _LIMIT:
            _rooms.clear()
        _rooms[row.room_id] = held

    feed.store(key(row.room_id), ticket, keep)


def forget() -> None:
    """Drop every remembered room (tests)."""
    _rooms.clear()
