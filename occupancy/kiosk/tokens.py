"""Kiosk tokens: issued once, stored hashed, checked on every poll, revoked in a click.

A token reads ``kt_<prefix>_<secret>``: the 8-character prefix is not secret (it is listed in the admin and finds
the row), the secret is 43 URL-safe characters; only the SHA-256 of the whole token is stored.

Each process remembers what it read about a token, so a poll does not query the token table. With the change feed
live (PostgreSQL, ``changes``) it hears every change to a token and its rooms: a revocation or a scope change takes
effect everywhere within milliseconds, and a token is remembered for ``KIOSK_CHANGE_FEED_TRUST_S`` (default
300 s). Without it a token is remembered for ``KIOSK_TOKEN_CACHE_S`` (default 10 s), which is then the bound on
revocation in the other processes (the revoking process forgets at once). A room panel polls about as often as
that, so its token is then often not remembered: the one-room status endpoint reads it in the same query as the
room (``queries.token_and_room``), never in a query of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from spaces_calendar.core.models import Building, Floor, Room, Tenant

from . import changes, queries
from .conf import kiosk_settings
from .models import KioskToken

PREFIX_LENGTH = 8
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is for people ("used today?"), not worth a write per poll
_NONE: frozenset[int] = frozenset()  # shared by every grant without rooms, a floor or a building
_CACHE_LIMIT = 10_000  # entries; a flood of made-up prefixes must not grow the memory without end


@dataclass(frozen=True, slots=True)
class KioskGrant:
    """What a valid token may read: rooms of one tenant."""

    token_id: int
    tenant_id: int
    room_ids: frozenset[int]
    floor_ids: frozenset[int]
    building_ids: frozenset[int]

    def covers(self, room_id: int, floor_id: int, building_id: int) -> bool:
        """Whether a room of the grant's tenant (the caller checks the tenant) is in scope."""
        return room_id in self.room_ids or floor_id in self.floor_ids or building_id in self.building_ids


@dataclass(slots=True)  # thousands per process: no __dict__ each for the garbage collector to scan
class _Cached:
    expires: float
    key_hash: str
    grant: KioskGrant | None  # None: unknown prefix or revoked
    touch_after: float  # time.monotonic() after which last_used_at is worth writing again
    first_use: bool = False  # last_used_at is still empty


_cache: dict[str, _Cached] = {}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def prefix_of(raw: str) -> str | None:
    if len(raw) > 200 or not raw.startswith("kt_") or raw[3 + PREFIX_LENGTH:4 + PREFIX_LENGTH] != "_":
        return None
    return raw[3:3 + PREFIX_LENGTH]


def validate_scope(tenant: Tenant, rooms: Iterable[Room], floor: Floor | None, building: Building | None) -> None:
    """A token names at least one room, floor or building, and only the tenant's own."""
    rooms = list(rooms)
    if not rooms and floor is None and building is None:
        raise ValidationError("Choose the rooms, a floor or a building this kiosk shows.")
    if any(room.tenant_id != tenant.pk for room in rooms) or (floor and floor.building.tenant_id != tenant.pk) or (
            building and building.tenant_id != tenant.pk):
        raise ValidationError("A kiosk token can only show rooms of its own tenant.")


def issue_token(tenant: Tenant, name: str, *, rooms: Iterable[Room] = (), floor: Floor | None = None,
                building: Building | None = None, created_by=None) -> tuple[KioskToken, str]:
    """Create a token; the raw token is returned here once and never stored."""
    rooms = list(rooms)
    validate_scope(tenant, rooms, floor, building)
    for _attempt in range(5):
        prefix, raw = _draw()
        try:
            with transaction.atomic():
                token = KioskToken.objects.create(tenant=tenant, name=name, prefix=prefix, key_hash=hash_token(raw),
                                                  floor=floor, building=building, created_by=created_by)
                token.rooms.set(rooms)
            return token, raw
        except IntegrityError:  # a prefix collision (1 in 4 billion per pair): draw again
            continue
    raise RuntimeError("Could not draw a unique kiosk token prefix.")


def set_secret(token: KioskToken) -> str:
    """Give an unsaved token (the admin's add form) its prefix and hash; returns the raw token, shown once."""
    token.prefix, raw = _draw()
    token.key_hash = hash_token(raw)
    return raw


def _draw() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return prefix, f"kt_{prefix}_{secrets.token_urlsafe(32)}"


def revoke_token(token: KioskToken) -> None:
    if token.revoked_at is None:
        KioskToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    forget(token.prefix)


def forget(prefix: str) -> None:
    """Drop what this process remembers of a token (after a revocation or a scope change)."""
    _cache.pop(prefix, None)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without one."""
    if not header or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()


def from_header(header: str | None) -> KioskGrant | None:
    """The grant of ``Authorization: Bearer <token>``; None for a missing, malformed, unknown or revoked one."""
    raw = bearer(header)
    return None if raw is None else authenticate(raw)


def authenticate(raw: str) -> KioskGrant | None:
    """The grant of a valid, unrevoked token; None for anything else."""
    grant = cached(raw)
    if grant is NOT_CACHED:
        stamp = changes.ticket()
        grant = remember(raw, queries.token_row(prefix_of(raw)), stamp)
    return grant


#: ``cached``'s answer when this process has nothing (fresh) on the token: look it up, then ``remember`` it.
NOT_CACHED = object()


def cached(raw: str) -> KioskGrant | None | object:
    """What this process remembers of a token: its grant, None (malformed, unknown, revoked, wrong secret), or
    ``NOT_CACHED``. For callers that fetch the token row in a query of their own (``queries.token_and_room``)."""
    prefix = prefix_of(raw)
    if prefix is None:
        return None
    entry = _cache.get(prefix)
    if entry is None or entry.expires <= time.monotonic():
        return NOT_CACHED
    return _check(entry, raw)


def remember(raw: str, row: tuple | None, stamp: changes.Ticket | None = None) -> KioskGrant | None:
    """Cache a token row (``queries.token_row``; None: no such prefix); returns its grant.

    With a ticket of the live change feed (``changes.ticket()``, taken before the read) for
    ``KIOSK_CHANGE_FEED_TRUST_S``, since any change to the token will be heard; else for ``KIOSK_TOKEN_CACHE_S``.
    """
    conf, prefix = kiosk_settings(), prefix_of(raw)
    feed = changes.feed() if stamp is not None else None
    entry = _entry(row, time.monotonic() + (conf.change_feed_trust_s if feed is not None else conf.token_cache_s))
    if feed is not None:
        # Not kept when a change of the token was heard during the read; this request still gets its answer.
        feed.store(_key(prefix), stamp, lambda: _put(prefix, entry))
    else:
        _put(prefix, entry)
    return _check(entry, raw)


def _put(prefix: str, entry: _Cached) -> None:
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[prefix] = entry


def _key(prefix: str) -> str:
    return f"t:{prefix}"


def _drop(key: str | None) -> None:
    """The change feed heard of a change to a token (``t:<prefix>``) or lost track of everything (None)."""
    if key is None:
        _cache.clear()
    elif key.startswith("t:"):
        _cache.pop(key[2:], None)


changes.subscribe(_drop)


def _check(entry: _Cached, raw: str) -> KioskGrant | None:
    if entry.grant is None or not hmac.compare_digest(entry.key_hash, hash_token(raw)):
        return None
    _touch(entry)
    return entry.grant


def _entry(row: tuple | None, expires: float) -> _Cached:
    if row is None or row[3] is not None:  # unknown or revoked
        return _Cached(expires, "", None, 0.0)
    token_id, tenant_id, key_hash, _revoked, last_used_at, floor_id, building_id, room_ids = row
    grant = KioskGrant(
        token_id=token_id, tenant_id=tenant_id, room_ids=frozenset(room_ids) if room_ids else _NONE,
        floor_ids=frozenset([floor_id]) if floor_id else _NONE,
        building_ids=frozenset([building_id]) if building_id else _NONE,
    )
    if last_used_at is None:
        return _Cached(expires, key_hash, grant, 0.0, first_use=True)
    touch_after = time.monotonic() + (_TOUCH_EVERY - (timezone.now() - last_used_at)).total_seconds()
    return _Cached(expires, key_hash, grant, touch_after)


# --- last_used_at ------------------------------------------------------------------------------------------------
# A token's first use is written at once (an admin who just set up a screen wants to see it working); after that,
# each process notes the tokens it served and writes them in one UPDATE at most every ``_TOUCH_EVERY``: one write
# a minute per process instead of one per token and minute (5,000 room panels would be 80 writes a second). Notes
# wait for the first poll after that minute; a process that exits loses its unwritten notes (at most a minute's).

_touched: set[int] = set()
_touch_lock = threading.Lock()
_flush_after = [0.0]  # time.monotonic()


def _touch(entry: _Cached) -> None:
    now = time.monotonic()
    if now < entry.touch_after:
        return
    entry.touch_after = now + _TOUCH_EVERY.total_seconds()
    if entry.first_use:
        entry.first_use = False
        _write_last_used([entry.grant.token_id])
        return
    with _touch_lock:
        _touched.add(entry.grant.token_id)
        if now < _flush_after[0]:
            return
        _flush_after[0] = now + _TOUCH_EVERY.total_seconds()
        token_ids = sorted(_touched)
        _touched.clear()
    _write_last_used(token_ids)


def _write_last_used(token_ids: list[int]) -> None:
    moment = timezone.now()
    for index in range(0, len(token_ids), 500):
        KioskToken.objects.filter(pk__in=token_ids[index:index + 500]).update(last_used_at=moment)


def describe_scope(token: KioskToken) -> str:
    """``3 rooms, floor HQ / 2`` for lists."""
    parts = []
    rooms = list(token.rooms.all())
    if rooms:
        parts.append(", ".join(room.name for room in rooms[:3]) + (f" and {len(rooms) - 3} more" if len(rooms) > 3
                                                                   else ""))
    if token.floor:
        parts.append(f"floor {token.floor}")
    if token.building:
        parts.append(f"building {token.building}")
    return "; ".join(parts)
