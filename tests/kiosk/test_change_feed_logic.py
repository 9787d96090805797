"""The change feed's bookkeeping (``occupancy.kiosk.changes.ChangeFeed``): tickets, lost connections, resets.

The listener's connection here is a stand-in that hands out queued notifications, so that each interleaving can be
set up exactly; ``test_change_feed.py`` runs the same feed against PostgreSQL's real LISTEN/NOTIFY.
"""

from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace

import pytest

from occupancy.kiosk.changes import ChangeFeed


class Listening:
    """What the feed needs of a psycopg connection: execute, notifies(timeout), info.backend_pid, close."""

    def __init__(self, notes: queue.Queue, pid: int) -> None:
        self.notes, self.info, self.statements, self.closed = notes, SimpleNamespace(backend_pid=pid), [], False
        self.echo = True  # a pooler in transaction mode would not bring our own notifications back

    def execute(self, sql: str, params: tuple = ()) -> None:
        if self.closed:
            raise ConnectionError("the server closed the connection")
        self.statements.append(sql)
        if sql.startswith("SELECT pg_notify") and self.echo:
            self.notes.put(params[1])

    def notifies(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                note = self.notes.get(timeout=0.01)
            except queue.Empty:
                continue
            if isinstance(note, Exception):
                self.closed = True
                raise note
            yield SimpleNamespace(payload=note)

    def close(self) -> None:
        self.closed = True


class Server:
    """Hands the feed a new ``Listening`` per connect; ``refuse`` makes connects fail."""

    def __init__(self) -> None:
        self.notes: queue.Queue = queue.Queue()
        self.connections: list[Listening] = []
        self.refuse = threading.Event()
        self.echo = True

    def connect(self) -> Listening:
        if self.refuse.is_set():
            raise ConnectionError("connection refused")
        conn = Listening(self.notes, pid=len(self.connections) + 1)
        conn.echo = self.echo
        self.connections.append(conn)
        return conn

    def notify(self, payload: str, feed: ChangeFeed, heard: list) -> None:
        """Send and wait until the feed's subscriber saw it."""
        before = len(heard)
        self.notes.put(payload)
        _until(lambda: len(heard) > before)


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def server():
    return Server()


@pytest.fixture
def feed(server):
    feed = ChangeFeed(server.connect, heartbeat_s=0.05, backoff_max_s=0.05)
    heard: list[str | None] = []
    feed.subscribe(heard.append)
    feed.heard = heard
    yield feed
    feed.stop()


def _kept(feed: ChangeFeed, key: str, ticket) -> bool:
    box = []
    return feed.store(key, ticket, lambda: box.append(key)) and box == [key]


def test_nothing_is_kept_before_the_listener_listens(server, feed):
    server.refuse.set()
    feed.start()
    time.sleep(0.1)
    assert not feed.live and feed.ticket() is None and not _kept(feed, "r:1", None)
    server.refuse.clear()
    assert feed.wait_live(5)
    assert server.connections[0].statements[0] == "LISTEN kiosk_changes"
    assert _kept(feed, "r:1", feed.ticket())


def test_a_change_heard_during_a_read_voids_its_ticket_and_no_other(server, feed):
    feed.start()
    assert feed.wait_live(5)
    ticket_1, ticket_2 = feed.ticket(), feed.ticket()
    server.notify("r:1", feed, feed.heard)
    assert feed.heard[-1] == "r:1"
    assert not _kept(feed, "r:1", ticket_1)
    assert _kept(feed, "r:2", ticket_2)
    assert _kept(feed, "r:1", feed.ticket())  # read again after the change: fine


def test_everything_voids_every_ticket_and_clears_the_caches(server, feed):
    feed.start()
    assert feed.wait_live(5)
    ticket = feed.ticket()
    server.notify("*", feed, feed.heard)
    assert feed.heard[-1] is None and feed.live
    assert not _kept(feed, "t:abcd1234", ticket)


def test_a_lost_connection_clears_everything_until_it_listens_again(server, feed):
    feed.start()
    assert feed.wait_live(5)
    ticket = feed.ticket()
    server.refuse.set()
    server.notes.put(ConnectionError("terminating connection due to administrator command"))
    _until(lambda: not feed.live)
    assert None in feed.heard  # the caches were told to drop everything
    assert feed.ticket() is None and not _kept(feed, "r:7", ticket)
    server.refuse.clear()
    assert feed.wait_live(5) and len(server.connections) == 2 and feed.listener_pid == 2
    assert not _kept(feed, "r:7", ticket)  # a ticket from before the outage stays void
    assert _kept(feed, "r:7", feed.ticket())


def test_a_listener_that_does_not_hear_its_own_notifications_never_goes_live(server, feed):
    server.echo = False
    feed.start()
    time.sleep(0.3)
    assert not feed.live and feed.ticket() is None
    assert len(server.connections) >= 2  # it gave up on each and tried again


def test_a_listen_that_stops_hearing_is_noticed_by_the_heartbeat(server, feed):
    feed.start()
    assert feed.wait_live(5)
    server.connections[0].echo = False  # still "connected", but its pings are lost
    _until(lambda: not feed.live)
    assert None in feed.heard


def test_a_dead_server_is_noticed_by_the_heartbeat_without_any_change(server, feed):
    feed.start()
    assert feed.wait_live(5)
    server.refuse.set()
    server.connections[0].closed = True  # the next heartbeat's SELECT 1 fails
    _until(lambda: not feed.live)
    assert feed.ticket() is None


def test_a_stopped_feed_keeps_nothing(server, feed):
    feed.start()
    assert feed.wait_live(5)
    ticket = feed.ticket()
    feed.stop()
    assert not feed.live and not _kept(feed, "r:1", ticket) and server.connections[0].closed
