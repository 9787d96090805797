"""A fake Cisco Spaces Firehose: the partner event stream as the real one behaves, with the faults it shows.

What it does, and where each fact comes from (``../shared/DESIGN.md`` section 6 unless said otherwise):

* ``GET /api/partners/v1/firehose/events`` with ``X-API-Key`` answers 200 and a chunked NDJSON body that never ends
  on its own, filtered to ``minPartition..maxPartition`` (1-12). Lines are envelopes built by
  :mod:`spaces_calendar.partner.firehose_payloads` in the real shapes.
* **Replay** reaches back about an hour (``replay_window_s``, 3600): a ``fromTimestamp`` (ms) older than that gets
  only the last hour, newer gets the log from there on; no ``fromTimestamp`` (or 0: "latest only" in Cisco's HTTP
  streaming reference, developer.cisco.com/docs/cisco-spaces-firehose/http-streaming) gets live events only. An
  outage longer than the window therefore loses what is older than the window when the receiver comes back, as at
  Cisco.
* ``KEEP_ALIVE`` lines when nothing was sent for ``keepalive_interval`` (about 15 s): no payload, empty tenant
  fields. Whether Cisco's keep-alives carry a ``recordUid`` is not known; these do (a fresh one each).
* **Scripted outages** (:meth:`outage`, :meth:`outage_between`): while one lasts, new connections get 503 and open
  ones are cut, so nothing is delivered and a receiver must reconnect. Events published meanwhile stay in the log
  and come with a replay afterwards, if still inside the window. What Cisco answers during a real outage (503,
  a reset, a hang) is not documented; 503 and a cut are the likely ones.
* One location's events stay in one partition (the key is the innermost ``location.locationId``, else
  ``deviceInfo.workspaceId``), so a receiver of a partition range sees them in order. How Cisco partitions is not
  documented; this is an assumption.

Other faults: a cut mid-line (``cut_next_after``), a stall with no keep-alive (``stall_next``), refused keys
(401/403), any status through the harness's faults, and duplicate delivery (``duplicate_every``), which Cisco's best
practices page warns of (duplicates "may occur due to streams failures/retries", so de-duplicate by ``recordUid``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from spaces_calendar.partner import firehose_payloads as payloads
from spaces_calendar.sandbox.harness import CutConnection, FakeRequest, FakeResponse, FakeServer, Fault

EVENTS_PATH = "/api/partners/v1/firehose/events"
PARTITIONS = range(1, 13)
#: How far back ``fromTimestamp`` reaches at Cisco: about an hour.
REPLAY_WINDOW_S = 3600.0
KEEPALIVE_INTERVAL_S = 15.0


@dataclass(frozen=True)
class LoggedEvent:
    timestamp_ms: int
    partition: int
    line: bytes
    uid: str


def partition_of(key: str) -> int:
    """Spaces keeps one location's events in one partition, so they stay in order for one receiver."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 12 + 1


def partition_key(event: dict[str, Any]) -> str:
    """What keeps an event's partition: its (innermost) location, else its Webex workspace, else the event."""
    _, payload = payloads.payload_of(event)
    where = payload.get("location")
    if isinstance(where, dict) and where.get("locationId"):
        return str(where["locationId"])
    device = payload.get("deviceInfo")
    if isinstance(device, dict) and device.get("workspaceId"):
        return str(device["workspaceId"])
    return str(event.get("recordUid") or "")


class FakeFirehose:
    def __init__(self, server: FakeServer | None = None, *, api_keys: tuple[str, ...] = ("fake-spaces-api-key",),
                 spaces_tenant_id: str = "spaces-tenant-0001", partner_tenant_id: str = "partner-tenant-0001",
                 spaces_tenant_name: str = "Fake Spaces tenant", accepts: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.time):
        self.server = server or FakeServer(tls=True, name="spaces-firehose")
        self.api_keys = set(api_keys)
        #: Also accept a key this says is good, e.g. ``FakeSpacesPartner.is_active_key`` on a shared server, so the
        #: key an activation returns opens the stream as it does at Cisco.
        self.accepts = accepts
        #: Keys the fake now refuses with 403 (the app was deactivated in Spaces).
        self.deactivated_keys: set[str] = set()
        self.spaces_tenant_id = spaces_tenant_id
        self.spaces_tenant_name = spaces_tenant_name
        self.partner_tenant_id = partner_tenant_id
        #: Wall-clock seconds: the replay window and outages are measured on it (tests may move it).
        self.clock = clock
        self.keepalive_interval = KEEPALIVE_INTERVAL_S
        self.replay_window_s = REPLAY_WINDOW_S
        self.chunk_lines = 200
        #: Every n-th line is sent twice (0: never), as a real stream sometimes does.
        self.duplicate_every = 0
        self.log: list[LoggedEvent] = []
        #: The parameters of every stream opened, and ``replayFrom``: where its replay really began ("" = live).
        self.connections: list[dict[str, str]] = []
        #: Connection attempts answered 503 because an outage was on (as ``fromTimestamp`` etc. like connections).
        self.refused_in_outage: list[dict[str, str]] = []
        #: Scripted outages, (start ms, end ms) on ``clock``.
        self.outages: list[tuple[int, int]] = []
        self._changed = threading.Condition()
        self._cut_next: int | None = None
        self._stall_next: float = 0.0
        self._closing = False
        #: Bumped when the log is trimmed: a stream started before must end (its position is off).
        self._generation = 0
        self._keepalives = itertools.count(1)
        self.server.add_route("GET", EVENTS_PATH, self._events)

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> FakeFirehose:
        self.server.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self.server.stop()

    def __enter__(self) -> FakeFirehose:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- scripting --------------------------------------------------------------------------------------

    def event(self, kind: str, payload: dict[str, Any], *, timestamp_ms: int | None = None,
              event_type: str | None = None, uid: str | None = None, spaces_tenant_id: str | None = None
              ) -> dict[str, Any]:
        """An envelope around ``payload`` (the object named ``kind``), not yet published; the eventType is the one
        Cisco gives that payload unless ``event_type`` says otherwise."""
        return payloads.envelope(
            event_type or payloads.TYPE_OF_PAYLOAD.get(kind, kind.upper()), payload, payload_name=kind,
            record_uid=uid or f"event-{uuid.uuid4()}",
            timestamp_ms=timestamp_ms if timestamp_ms is not None else self.now_ms(),
            spaces_tenant_id=spaces_tenant_id or self.spaces_tenant_id, spaces_tenant_name=self.spaces_tenant_name,
            partner_tenant_id=self.partner_tenant_id,
        )

    def publish(self, event: dict[str, Any], *, partition: int | None = None) -> LoggedEvent:
        """Append an event to the log (streamed to connected receivers at once, unless an outage is on)."""
        if partition is None:
            partition = partition_of(partition_key(event))
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        return self._append(LoggedEvent(int(event["recordTimestamp"]), partition, line, str(event["recordUid"])))

    def publish_raw(self, line: bytes, *, timestamp_ms: int | None = None, partition: int = 1) -> LoggedEvent:
        """A line exactly as given (malformed JSON, a partial object ...)."""
        stamp = timestamp_ms if timestamp_ms is not None else self.now_ms()
        return self._append(LoggedEvent(stamp, partition, line.rstrip(b"\n") + b"\n", ""))

    def _append(self, logged: LoggedEvent) -> LoggedEvent:
        with self._changed:
            self.log.append(logged)
            self._changed.notify_all()
        return logged

    def cut_next_after(self, lines: int) -> None:
        """The next connection breaks in the middle of the line after ``lines`` complete ones."""
        self._cut_next = lines

    def stall_next(self, seconds: float) -> None:
        """The next connection answers 200 and then says nothing at all, not even KEEP_ALIVE."""
        self._stall_next = seconds

    def refuse(self, status: int, times: int = 1) -> None:
        self.server.add_fault(Fault(status=status, body={"error": f"fake {status}"}), path=EVENTS_PATH, times=times)

    def outage(self, seconds: float) -> tuple[int, int]:
        """The stream is down from now for ``seconds``: open streams are cut, new connections get 503."""
        start = self.now_ms()
        return self.outage_between(start, start + int(seconds * 1000))

    def outage_between(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """The stream is down over [start_ms, end_ms) on :attr:`clock` (a window met again is not added twice)."""
        if end_ms <= start_ms:
            raise ValueError("an outage ends after it starts")
        window = (int(start_ms), int(end_ms))
        with self._changed:
            horizon = self.now_ms() - 86_400_000  # a sandbox schedules one a day: keep the list short
            self.outages[:] = [kept for kept in self.outages if kept[1] > horizon and kept != window]
            self.outages.append(window)
            self.outages.sort()
            self._changed.notify_all()  # open streams re-check at once, and wake when it starts
        return window

    def is_down(self, at_ms: int | None = None) -> bool:
        at = self.now_ms() if at_ms is None else at_ms
        return any(start <= at < end for start, end in self.outages)

    def _next_outage_in(self, now_ms: int) -> float | None:
        """Seconds until the next outage starts (None: none scheduled)."""
        upcoming = [start for start, _ in self.outages if start > now_ms]
        return (min(upcoming) - now_ms) / 1000 if upcoming else None

    def disconnect_all(self) -> None:
        """End every open stream (as a Spaces deployment does now and then)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        time.sleep(0.05)
        with self._changed:
            self._closing = False

    def forget_before(self, timestamp_ms: int) -> int:
        """Drop logged events older than ``timestamp_ms`` (a sandbox runs for days) and end the open streams:
        their positions in the log no longer hold, so receivers resume from their checkpoints as after any cut.
        Returns how many were dropped."""
        with self._changed:
            keep = [logged for logged in self.log if logged.timestamp_ms >= timestamp_ms]
            dropped = len(self.log) - len(keep)
            if dropped:
                self.log[:] = keep
                self._generation += 1
                self._changed.notify_all()
        return dropped

    def replay_from(self, from_timestamp_ms: int | None, now_ms: int | None = None) -> int | None:
        """Where a stream asking for ``from_timestamp_ms`` really starts: None (live only) without one or with 0,
        else no further back than the replay window."""
        if not from_timestamp_ms or from_timestamp_ms <= 0:
            return None
        now = self.now_ms() if now_ms is None else now_ms
        return max(from_timestamp_ms, now - int(self.replay_window_s * 1000))

    # -- serving ----------------------------------------------------------------------------------------

    def _events(self, request: FakeRequest) -> FakeResponse:
        key = request.headers.get("X-API-Key", "")
        if key in self.deactivated_keys:
            return FakeResponse.json({"error": "Forbidden", "message": "App is deactivated"}, 403)
        if key not in self.api_keys and not (self.accepts is not None and self.accepts(key)):
            return FakeResponse.json({"error": "Unauthorized", "message": "Invalid API key"}, 401)
        try:
            low = int(request.arg("minPartition") or 1)
            high = int(request.arg("maxPartition") or 12)
            asked = int(request.arg("fromTimestamp")) if request.arg("fromTimestamp") else None
        except ValueError:
            return FakeResponse.json({"error": "Bad Request", "message": "invalid parameter"}, 400)
        if not (low in PARTITIONS and high in PARTITIONS and low <= high):
            return FakeResponse.json({"error": "Bad Request", "message": "partitions must be 1-12"}, 400)
        params = {k: request.arg(k) or "" for k in ("fromTimestamp", "minPartition", "maxPartition")}
        if self.is_down():
            self.refused_in_outage.append(params)
            return FakeResponse.json({"error": "Service Unavailable", "message": "Firehose is unavailable"}, 503)
        since = self.replay_from(asked)
        self.connections.append({**params, "replayFrom": "" if since is None else str(since)})
        cut, self._cut_next = self._cut_next, None
        stall, self._stall_next = self._stall_next, 0.0
        # Taken now, not when the lazy generator first runs: a trim between the two must still end this stream.
        with self._changed:
            start = (0 if since is not None else len(self.log), self._generation)
        return FakeResponse.stream(self._lines(low, high, since, cut, stall, start))

    def _lines(self, low: int, high: int, since: int | None, cut: int | None, stall: float,
               start: tuple[int, int]) -> Iterator[bytes]:
        if stall:
            deadline = time.monotonic() + stall
            with self._changed:
                while not self._closing and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())
            return
        position, generation = start  # no fromTimestamp: live events only (position at the end of the log)
        sent = 0
        last_line = time.monotonic()
        while True:
            with self._changed:
                while not self._closing and self._generation == generation and position >= len(self.log):
                    idle = time.monotonic() - last_line
                    if idle >= self.keepalive_interval or self.is_down():
                        break
                    wait = self.keepalive_interval - idle
                    outage_in = self._next_outage_in(self.now_ms())
                    self._changed.wait(wait if outage_in is None else min(wait, outage_in + 0.001))
                if self._closing or self._generation != generation:
                    return
                if self.is_down():
                    raise CutConnection("the fake Firehose is down (scripted outage)")
                ready = self.log[position:]
                position = len(self.log)
            if not ready:
                yield self._keep_alive()  # outside the lock: a slow reader must not block publishers
                last_line = time.monotonic()
                continue
            chunk: list[bytes] = []
            for logged in ready:
                if not low <= logged.partition <= high or (since is not None and logged.timestamp_ms < since):
                    continue
                if cut is not None and sent >= cut:
                    yield b"".join(chunk) + logged.line[: max(1, len(logged.line) // 2)]
                    raise CutConnection("the fake Firehose cut the stream mid-line")
                chunk.append(logged.line)
                sent += 1
                if self.duplicate_every and sent % self.duplicate_every == 0:
                    chunk.append(logged.line)
                if len(chunk) >= self.chunk_lines:
                    yield b"".join(chunk)
                    last_line = time.monotonic()
                    chunk = []
            if chunk:
                yield b"".join(chunk)
                last_line = time.monotonic()

    def _keep_alive(self) -> bytes:
        line = payloads.keep_alive(timestamp_ms=self.now_ms(), record_uid=f"keepalive-{next(self._keepalives)}-"
                                   f"{uuid.uuid4().hex[:12]}")
        return json.dumps(line, separators=(",", ":")).encode() + b"\n"
