"""A fake Cisco Spaces Firehose: the partner event stream, with the faults a real one shows.

``GET /api/partners/v1/firehose/events`` with ``X-API-Key`` answers 200 and a chunked NDJSON body that never ends
on its own: the scripted event log from ``fromTimestamp`` (ms) on, filtered to ``minPartition..maxPartition``,
then new events as they are published, and a ``KEEP_ALIVE`` line whenever nothing happened for
``keepalive_interval``. Faults: a cut mid-line (``cut_next_after``), a stall with no keep-alive (``stall_next``),
refused keys (401/403), any status through the harness's faults, and duplicate delivery (``duplicate_every``).
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

from spaces_calendar.sandbox.harness import CutConnection, FakeRequest, FakeResponse, FakeServer, Fault

EVENTS_PATH = "/api/partners/v1/firehose/events"
PARTITIONS = range(1, 13)


@dataclass(frozen=True)
class LoggedEvent:
    timestamp_ms: int
    partition: int
    line: bytes
    uid: str


def partition_of(key: str) -> int:
    """Spaces keeps one location's events in one partition, so they stay in order for one receiver."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 12 + 1


class FakeFirehose:
    def __init__(self, server: FakeServer | None = None, *, api_keys: tuple[str, ...] = ("fake-spaces-api-key",),
                 spaces_tenant_id: str = "spaces-tenant-0001", partner_tenant_id: str = "partner-tenant-0001",
                 accepts: Callable[[str], bool] | None = None):
        self.server = server or FakeServer(tls=True, name="spaces-firehose")
        self.api_keys = set(api_keys)
        #: Also accept a key this says is good, e.g. ``FakeSpacesPartner.is_active_key`` on a shared server, so the
        #: key an activation returns opens the stream as it does at Cisco.
        self.accepts = accepts
        #: Keys the fake now refuses with 403 (the app was deactivated in Spaces).
        self.deactivated_keys: set[str] = set()
        self.spaces_tenant_id = spaces_tenant_id
        self.partner_tenant_id = partner_tenant_id
        self.keepalive_interval = 15.0
        self.chunk_lines = 200
        #: Every n-th line is sent twice (0: never), as a real stream sometimes does.
        self.duplicate_every = 0
        self.log: list[LoggedEvent] = []
        self.connections: list[dict[str, str]] = []
        self._changed = threading.Condition()
        self._cut_next: int | None = None
        self._stall_next: float = 0.0
        self._closing = False
        #: Bumped when the log is trimmed: a stream started before must end (its position is off).
        self._generation = 0
        self._uids = itertools.count(1)
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

    # -- scripting --------------------------------------------------------------------------------------

    def event(self, kind: str, payload: dict[str, Any], *, timestamp_ms: int | None = None,
              event_type: str | None = None, uid: str | None = None, spaces_tenant_id: str | None = None
              ) -> dict[str, Any]:
        """An event in the Firehose envelope (not yet published)."""
        return {
            "recordUid": uid or f"event-{uuid.uuid4()}",
            "recordTimestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "spacesTenantId": spaces_tenant_id or self.spaces_tenant_id,
            "spacesTenantName": "Fake Spaces tenant",
            "partnerTenantId": self.partner_tenant_id,
            "eventType": event_type or _event_type(kind),
            kind: payload,
        }

    def publish(self, event: dict[str, Any], *, partition: int | None = None) -> LoggedEvent:
        """Append an event to the log (streamed to connected receivers at once)."""
        if partition is None:
            payload = next((v for v in event.values() if isinstance(v, dict)), {})
            key = str((payload.get("location") or {}).get("locationId")
                      or (payload.get("device") or {}).get("workspaceId") or event.get("recordUid"))
            partition = partition_of(key)
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        return self._append(LoggedEvent(int(event["recordTimestamp"]), partition, line, str(event["recordUid"])))

    def publish_raw(self, line: bytes, *, timestamp_ms: int | None = None, partition: int = 1) -> LoggedEvent:
        """A line exactly as given (malformed JSON, a partial object ...)."""
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
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
            since = int(request.arg("fromTimestamp")) if request.arg("fromTimestamp") else None
        except ValueError:
            return FakeResponse.json({"error": "Bad Request", "message": "invalid parameter"}, 400)
        if not (low in PARTITIONS and high in PARTITIONS and low <= high):
            return FakeResponse.json({"error": "Bad Request", "message": "partitions must be 1-12"}, 400)
        self.connections.append({k: request.arg(k) or "" for k in ("fromTimestamp", "minPartition", "maxPartition")})
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
        while True:
            with self._changed:
                if not self._closing and position >= len(self.log):
                    self._changed.wait(self.keepalive_interval)
                if self._closing or self._generation != generation:
                    return
                ready = self.log[position:]
                position = len(self.log)
            if not ready:
                yield _keep_alive()  # outside the lock: a slow reader must not block publishers
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
                    chunk = []
            if chunk:
                yield b"".join(chunk)


def _keep_alive() -> bytes:
    return json.dumps({"eventType": "KEEP_ALIVE", "recordTimestamp": int(time.time() * 1000)}).encode() + b"\n"


def _event_type(kind: str) -> str:
    return {
        "devicePresence": "DEVICE_PRESENCE",
        "cameraCounts": "CAMERA_COUNT",
        "deviceCounts": "DEVICE_COUNT",
        "webexTelemetryUpdate": "WEBEX_TELEMETRY",
        "spaceOccupancy": "SPACE_OCCUPANCY",
        "iotTelemetry": "IOT_TELEMETRY",
        "locationHierarchyChange": "LOCATION_CHANGE",
        "appActivation": "APP_ACTIVATION",
    }.get(kind, kind.upper())
