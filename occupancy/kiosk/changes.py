"""PostgreSQL's change notifications, so a web process can answer kiosk polls from memory.

Triggers (migration ``0005_kiosk_change_triggers``) ``NOTIFY kiosk_changes`` whenever what a kiosk answer depends on
is committed: ``r:<room id>`` for a room's bookings, sensor states, stored document or the room itself,
``t:<prefix>`` for a kiosk token or its rooms, ``*`` for everything (a floor moved to another building, a TRUNCATE).
Each web process runs one listener thread (``feed()``, started by the first poll). While it is connected, the kiosk
keeps the rooms and tokens it has read in memory and drops them when it hears of a change, so a poll that finds
both costs no query at all.

Why this stays correct:

* **In flight reads.** A reader takes a ``ticket`` *before* it queries, and ``store`` keeps the result for a key
  only if no change of that key was heard since. A change committed after the reader's snapshot is either heard
  before the store (the result is dropped) or after it (the stored copy is dropped then).
* **Lost notifications.** NOTIFY reaches only connected listeners. While the listener is not connected (before its
  first LISTEN, after a lost connection, while it reconnects) ``live`` is false: no ticket is handed out, nothing is
  stored, and everything stored before is dropped, so every poll reads the database, as on SQLite. Reconnecting
  LISTENs first and only then goes live again, with a new epoch that voids tickets from before.
* **A listener that hears nothing.** The listener sends itself a notification after LISTEN and every heartbeat
  (10 s) and counts as connected only while they come back; behind a connection pooler that cannot LISTEN
  (PgBouncer in transaction mode) it never goes live.
* **Delay.** A change shows once the listener has heard it: milliseconds after its commit, not at the next request
  exactly. ``KIOSK_CHANGE_FEED_TRUST_S`` bounds how long anything is served from memory without a re-read, as a
  backstop for writes made with triggers disabled (``session_replication_role = replica``, a restore).

SQLite (the embedded default) has no notifications: there the feed is never live and every poll reads the database.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "kiosk_changes"
EVERYTHING = "*"
APPLICATION_NAME = "spaces-calendar kiosk listener"
#: A ticket: the epoch and the number of changes heard when it was taken.
Ticket = tuple[int, int]
Subscriber = Callable[[str | None], None]  # a changed key, or None for everything
_WAKE_S = 0.5
_PING = "ping:"  # our own heartbeat notifications, heard by every listener and ignored by the others
_KEYS_LIMIT = 200_000  # keys remembered; past it the epoch moves on, which voids every ticket at once


class ChangeFeed:
    """One process's view of the change notifications: liveness, tickets, and the caches to drop on a change."""

    def __init__(self, connect: Callable[[], object], heartbeat_s: float = 10.0, backoff_max_s: float = 30.0):
        self._connect = connect
        self._heartbeat_s = heartbeat_s
        self._backoff_max_s = backoff_max_s
        self._lock = threading.Lock()
        self._epoch = 0
        self._sequence = 0  # of the changes heard
        self._changed_at: dict[str, int] = {}  # key -> the sequence number of its last change
        self._subscribers: list[Subscriber] = []
        self._live = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener_pid: int | None = None  # the backend's, for tests and the health page

    # --- for readers ---------------------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    def ticket(self) -> Ticket | None:
        """Take before reading from the database; None: do not keep what you read. One ticket covers every key
        the read touches (a floor screen reads rooms it does not know in advance)."""
        if not self._live:
            return None
        return self._epoch, self._sequence

    def store(self, key: str, ticket: Ticket | None, keep: Callable[[], None]) -> bool:
        """Run ``keep`` (which puts what was read into a cache) if no change of ``key`` was heard since ``ticket``."""
        if ticket is None:
            return False
        with self._lock:
            if not self._live or ticket[0] != self._epoch or self._changed_at.get(key, 0) > ticket[1]:
                return False
            keep()
            return True

    def subscribe(self, subscriber: Subscriber) -> None:
        """``subscriber(key)`` drops a key from a cache, ``subscriber(None)`` everything; called under the lock."""
        self._subscribers.append(subscriber)

    # --- for the listener ----------------------------------------------------------------------------------------

    def changed(self, key: str) -> None:
        if key == EVERYTHING:
            self._reset(live=self._live)
            return
        with self._lock:
            if len(self._changed_at) >= _KEYS_LIMIT:
                self._changed_at.clear()
                self._epoch += 1
            self._sequence += 1
            self._changed_at[key] = self._sequence
            for subscriber in self._subscribers:
                subscriber(key)

    def _reset(self, *, live: bool) -> None:
        with self._lock:
            self._epoch += 1
            self._changed_at.clear()
            self._live = live
            for subscriber in self._subscribers:
                subscriber(None)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiosk-change-feed", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._reset(live=False)

    def wait_live(self, timeout: float) -> bool:
        """Tests and the benchmark: wait until the listener is connected."""
        deadline = time.monotonic() + timeout
        while not self._live and time.monotonic() < deadline:
            self._stop.wait(0.01)
        return self._live

    @property
    def listener_pid(self) -> int | None:
        return self._listener_pid

    def _run(self) -> None:
        backoff = min(0.5, self._backoff_max_s)
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
                # Live only once a notification of our own has come back: behind a pooler that cannot LISTEN
                # (PgBouncer in transaction mode) it never does, and every poll keeps reading the database.
                self._echo(conn, self._ping(conn))
                self._listener_pid = conn.info.backend_pid
                self._reset(live=True)  # after LISTEN: every change from here on is heard
                logger.info("kiosk change feed listening (backend %s)", self._listener_pid)
                backoff = min(0.5, self._backoff_max_s)
                self._listen(conn)
            except Exception as exc:  # noqa: BLE001 - any failure means: not live, read the database, retry
                if not self._stop.is_set():
                    logger.warning("kiosk change feed disconnected (%s: %s); polls read the database until it "
                                   "reconnects", type(exc).__name__, exc)
            finally:
                self._reset(live=False)
                self._listener_pid = None
                if conn is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection may fail too
                        conn.close()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    def _listen(self, conn) -> None:
        """Hear changes until stopped; every heartbeat, a ping that must come back (the LISTEN still holds)."""
        ping, sent = None, time.monotonic()
        while not self._stop.is_set():
            # Short waits, so that stop() does not wait for a heartbeat.
            for note in conn.notifies(timeout=min(_WAKE_S, self._heartbeat_s)):
                if note.payload == ping:
                    ping = None
                elif not note.payload.startswith(_PING):
                    self.changed(note.payload)
            waited = time.monotonic() - sent
            if ping is not None and waited >= self._heartbeat_s:
                raise ConnectionError(f"our own notification did not come back within {waited:.0f} s")
            if ping is None and waited >= self._heartbeat_s:
                ping, sent = self._ping(conn), time.monotonic()

    def _echo(self, conn, ping: str) -> None:
        deadline = time.monotonic() + self._heartbeat_s
        while time.monotonic() < deadline and not self._stop.is_set():
            if any(note.payload == ping for note in conn.notifies(timeout=min(_WAKE_S, self._heartbeat_s))):
                return
        raise ConnectionError("LISTEN does not hear this connection's own NOTIFY (a connection pooler?)")

    @staticmethod
    def _ping(conn) -> str:
        payload = f"{_PING}{os.getpid()}:{secrets.token_hex(4)}"
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        return payload


def _listener_connector() -> Callable[[], object]:
    """Opens the listener's connection: its own, in autocommit, with Django's parameters (``DATABASES``), read
    here in the caller's thread (a test database's name is set on the caller's connection)."""
    import psycopg

    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    # A server that vanishes without closing the socket is noticed within about half a minute.
    params.update({"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                   "application_name": APPLICATION_NAME, "connect_timeout": 10, "autocommit": True})
    return functools.partial(psycopg.connect, **params)


# --- The process's feed --------------------------------------------------------------------------------------------

_feed: list[ChangeFeed | None] = [None]
_feed_pid: list[int | None] = [None]
_subscribers: list[Subscriber] = []
_setup_lock = threading.Lock()


_enabled: list[bool | None] = [None]  # read on every poll: worked out once


def enabled() -> bool:
    if _enabled[0] is None:
        _enabled[0] = connection.vendor == "postgresql" and settings.KIOSK_CHANGE_FEED
    return _enabled[0]


def feed() -> ChangeFeed | None:
    """This process's feed, started on first use (after a fork: the parent's thread does not exist here);
    None where there are no notifications (SQLite, or ``KIOSK_CHANGE_FEED`` off)."""
    current = _feed[0]
    if current is not None and _feed_pid[0] == os.getpid():
        return current
    if not enabled():
        return None
    with _setup_lock:
        if _feed[0] is None or _feed_pid[0] != os.getpid():
            started = ChangeFeed(_listener_connector())
            for subscriber in _subscribers:
                started.subscribe(subscriber)
            started.start()
            _feed[0], _feed_pid[0] = started, os.getpid()
        return _feed[0]


def ticket() -> Ticket | None:
    """This process's feed's ticket (``ChangeFeed.ticket``): take it before a read whose result is to be kept;
    None without a live feed."""
    current = feed()
    return current.ticket() if current is not None else None


def subscribe(subscriber: Subscriber) -> None:
    """Register a cache's drop function with every feed this process starts (module import time)."""
    _subscribers.append(subscriber)
    if _feed[0] is not None:
        _feed[0].subscribe(subscriber)


def shut_down() -> None:
    """Stop this process's feed (tests, and a settings change); the next ``feed()`` starts a new one."""
    with _setup_lock:
        current, _feed[0] = _feed[0], None
        _enabled[0] = None
    if current is not None and _feed_pid[0] == os.getpid():
        current.stop()


def _settings_changed(setting: str, **kwargs: object) -> None:
    if setting in ("KIOSK_CHANGE_FEED", "DATABASES"):
        shut_down()


setting_changed.connect(_settings_changed, dispatch_uid="occupancy.kiosk.changes")
