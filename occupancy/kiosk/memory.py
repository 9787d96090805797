"""The rooms a web process remembers while the change feed is live (``changes``): a poll that finds its room here
(and its token in ``tokens``) is answered without a query, and a floor screen whose list of rooms and every room
of it are here, likewise.

A room is remembered with its current document only, until the first of: a change heard for it (``r:<id>``), the
document's ``valid_until_ts``, ``KIOSK_CHANGE_FEED_TRUST_S``. A floor screen's list (which rooms, in which order)
until a room of the tenant is added, removed, renamed or moved (``rooms:<tenant>``) or that same trust runs out.
Without a live feed (SQLite, a lost connection) nothing is kept, and every lookup is a query.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from . import changes, queries
from .conf import kiosk_settings
from .queries import Entry, RoomRow, Selection

_LIMIT = 100_000  # rooms; past it everything is dropped (a bound on memory, far above any tenant's room count)
_LISTS_LIMIT = 10_000


@dataclass(frozen=True)
class Lookup:
    """A room as read (None: no such room), and the ticket to remember it with once its document is known."""

    row: RoomRow | None
    ticket: changes.Ticket | None = None
    remembered: bool = False


@dataclass(frozen=True)
class ListLookup:
    """A floor screen's rooms, by name (``entry`` None: to rebuild), and which of them came from memory."""

    rows: list[RoomRow]
    ticket: changes.Ticket | None = None
    remembered: frozenset[int] = field(default_factory=frozenset)


_rooms: dict[int, tuple[RoomRow, float]] = {}  # room id -> (row with its entry, epoch seconds it may be served to)
_lists: dict[Selection, tuple[tuple[int, ...], float]] = {}  # -> (room ids by name, epoch seconds)


def _drop(key: str | None) -> None:
    if key is None:
        _rooms.clear()
        _lists.clear()
    elif key.startswith("r:"):
        with contextlib.suppress(ValueError):  # a payload we do not know: nothing of ours
            _rooms.pop(int(key[2:]), None)
    elif key.startswith("rooms:"):
        with contextlib.suppress(ValueError):
            tenant_id = int(key[6:])
            for selection in [selection for selection in _lists if selection.tenant_id == tenant_id]:
                _lists.pop(selection, None)


changes.subscribe(_drop)


def key(room_id: int) -> str:
    return f"r:{room_id}"


def recall(room_id: int, now_ts: float) -> RoomRow | None:
    """The remembered room, if it may still be served."""
    held = _rooms.get(room_id)
    if held is None or held[1] <= now_ts:
        return None
    return held[0]


def room(room_id: int, now_ts: float) -> Lookup:
    """The room from memory, else from the database (one query) with a ticket to remember it by."""
    feed = changes.feed()
    if feed is None:
        return Lookup(queries.room_row(room_id, now_ts))
    row = recall(room_id, now_ts) if feed.live else None
    if row is not None:
        return Lookup(row, remembered=True)
    stamp = feed.ticket()
    return Lookup(queries.room_row(room_id, now_ts), stamp)


def room_list(selection: Selection, now_ts: float) -> ListLookup:
    """The rooms of a floor screen: from memory when the list and its rooms are remembered; else the list in one
    query, or only the rooms that are not remembered."""
    feed = changes.feed()
    if feed is None or not feed.live:
        return ListLookup(queries.room_rows(selection, now_ts))
    stamp = feed.ticket()
    held = _lists.get(selection)
    if held is None or held[1] <= now_ts:
        rows = queries.room_rows(selection, now_ts)
        ids = tuple(row.room_id for row in rows)
        until = now_ts + kiosk_settings().change_feed_trust_s

        def keep() -> None:
            if len(_lists) >= _LISTS_LIMIT:
                _lists.clear()
            _lists[selection] = (ids, until)

        feed.store(f"rooms:{selection.tenant_id}", stamp, keep)
        return ListLookup(rows, stamp)
    found = {room_id: recall(room_id, now_ts) for room_id in held[0]}
    missing = [room_id for room_id, row in found.items() if row is None]
    if missing:
        fetched = queries.room_rows(Selection(selection.tenant_id, frozenset(missing), frozenset(), frozenset()),
                                    now_ts)
        found.update({row.room_id: row for row in fetched})
    rows = [found[room_id] for room_id in held[0] if found.get(room_id) is not None]  # deleted meanwhile: gone
    return ListLookup(rows, stamp, frozenset(room_id for room_id in held[0] if room_id not in missing))


def remember(row: RoomRow, entry: Entry, stamp: changes.Ticket | None, now_ts: float) -> None:
    """Keep ``row`` with its current ``entry`` if no change of the room was heard since ``stamp``."""
    feed = changes.feed()
    if feed is None or stamp is None:
        return
    until = min(entry.valid_until_ts, now_ts + kiosk_settings().change_feed_trust_s)
    held = (RoomRow(row.room_id, row.tenant_id, row.floor_id, row.building_id, entry), until)

    def keep() -> None:
        if len(_rooms) >= _LIMIT:
            _rooms.clear()
        _rooms[row.room_id] = held

    feed.store(key(row.room_id), stamp, keep)


def forget() -> None:
    """Drop every remembered room and list (tests)."""
    _rooms.clear()
    _lists.clear()
