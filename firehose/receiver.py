"""The long-running Firehose receiver for one partition range: connect, batch, apply, checkpoint, reconnect.

A reader thread only moves lines from the socket into a queue; this thread parses them into batches and reads
them (``ledger.prepare``), and a writer thread applies the batches in order, one transaction each (see
:mod:`firehose.ledger`), so that the next batch is parsed and read while the database writes the last one. A
partial batch is flushed whenever the queue is quiet for the flush interval, so a trickle of events is applied
within about a second rather than at the next keep-alive. At most one batch waits for the writer and the line
queue is short: memory stays flat however far behind the stream is.
A batch that fails to apply stops the writer there (the later ones are not applied, so the checkpoint never
passes events that were not applied) and the error ends the connection as it did without a writer.
"""

from __future__ import annotations

import gc
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from . import ledger
from .events import BadLine, Event, parse_line
from .ledger import StreamKey, TenantResolver
from .stream import FirehoseStream, StreamError, StreamRefused, StreamRequest

logger = logging.getLogger(__name__)
STATUS_EVERY_S = 5.0
PRUNE_EVERY_BATCHES = 200
CREDENTIALS_POLL_S = 30.0
#: Chunks of lines the reader may hold before it waits for the parser (a few thousand lines).
LINE_QUEUE_CHUNKS = 64
#: The cyclic garbage collector's thresholds while receivers run (CPython's default is (700, 10, 10)).
GC_THRESHOLDS = (100_000, 50, 100)


def _tune_gc() -> None:
    """Make cyclic garbage collections rarer in this process (they are not switched off).

    A receiver holds a few batches of parsed events, hundreds of thousands of dicts and lists that all outlive the
    young generations, so with the default thresholds CPython walks them in full collections several times a
    second: measured, that doubled the cost of parsing and reading a batch. Parsed JSON has no reference cycles,
    so reference counting frees it either way; rarer collections only delay the odd cycle elsewhere."""
    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
        gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class Credentials:
    """Whose stream to read: ``stream`` names it for checkpoints (one per activation, or ``env``)."""

    stream: str
    api_key: str
    base_url: str
    resolve_tenant: TenantResolver
    #: Called with a reason when the Firehose refuses the key (marks the activation broken).
    refused: Callable[[str], None] = lambda reason: None
    #: Our tenants whose rooms this stream feeds: what it loses is unknown for them (``occupancy.outages``).
    tenant_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _End:
    error: Exception | None = None


class _Writer:
    """Applies batches in its own thread (and database connection), in the order they were handed over."""

    def __init__(self, receiver: Receiver, key: StreamKey, creds: Credentials):
        self.receiver, self.key, self.creds = receiver, key, creds
        self.error: BaseException | None = None
        self._batches: queue.Queue = queue.Queue(maxsize=1)  # one waiting, one being applied
        self._thread = threading.Thread(target=self._run, name="firehose-writer", daemon=True)
        self._thread.start()

    def new_batch(self) -> ledger.PreparedBatch:
        """An empty batch for the parsing thread to read events into."""
        return ledger.PreparedBatch(ledger.tenant_cache(self.creds.resolve_tenant))

    def submit(self, batch: ledger.PreparedBatch) -> None:
        """Hand a batch over (waits while one is already waiting); raises what made an earlier batch fail."""
        self._raise()
        self._batches.put(batch)

    def close(self) -> None:
        """Apply what was handed over, stop the thread; raises what made a batch fail."""
        self._batches.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (batch := self._batches.get()) is not None:
                if self.error is None:  # after a failure nothing more is applied: the checkpoint stays behind it
                    try:
                        self.receiver._apply(self.key, batch, self.creds)
                    except BaseException as error:  # noqa: BLE001 - handed to the parsing thread, which raises it
                        self.error = error
        finally:
            connections.close_all()  # this thread's own connection


class Receiver:
    def __init__(
        self,
        credentials: Callable[[], Credentials | None],
        *,
        min_partition: int = 1,
        max_partition: int = 12,
        stop: threading.Event | None = None,
    ):
        self.credentials = credentials
        self.min_partition = min_partition
        self.max_partition = max_partition
        self.stop = stop or threading.Event()
        self.attempt = 0
        self.batches = 0
        self._refused_key: str | None = None

    # -- the outer loop: credentials, connection, backoff -------------------------------------------------

    def run(self) -> None:
        logger.info("firehose receiver for partitions %d-%d started", self.min_partition, self.max_partition)
        _tune_gc()
        waiting_logged = False
        while not self.stop.is_set():
            close_old_connections()
            creds = self.credentials()
            if creds is None or creds.api_key == self._refused_key:
                if not waiting_logged:
                    logger.info("firehose: no usable Cisco Spaces API key; waiting for an activation")
                    waiting_logged = True
                self.stop.wait(CREDENTIALS_POLL_S)
                continue
            waiting_logged = False
            self._connect_once(creds)
        logger.info("firehose receiver for partitions %d-%d stopped", self.min_partition, self.max_partition)

    def _connect_once(self, creds: Credentials) -> None:
        key = StreamKey(creds.stream, self.min_partition, self.max_partition)
        started = time.monotonic()
        lines = 0
        error_text = ""
        try:
            lines = self.consume(creds, key)
        except StreamRefused as error:
            logger.error("firehose: %s; stopping until the key changes", error)
            ledger.mark_connection(key, connected=False, error=str(error))
            creds.refused(str(error))
            self._refused_key = creds.api_key
            return
        except StreamError as error:
            error_text = str(error)
            lines = getattr(error, "lines", 0)
        finally:
            # Whatever ended the connection (an error, silence, our own stop), what the stream carries from the
            # last line we heard on is lost unless the next connection's replay brings it back.
            ledger.stream_lost(key, creds.tenant_ids, ledger.last_heard(key) or timezone.now(),
                               "stopped" if self.stop.is_set() else "disconnected")
        ledger.mark_connection(key, connected=False, error=error_text)
        if self.stop.is_set():
            return
        if time.monotonic() - started >= settings.FIREHOSE_HEALTHY_AFTER_S and lines:
            self.attempt = 0  # it was healthy for a while: this is a fresh failure, not a flapping one
        delay = self.backoff()
        logger.warning("firehose: %s; reconnecting in %.1f s", error_text or "stream ended", delay)
        self.stop.wait(delay)

    def backoff(self) -> float:
        """Exponential with full jitter (so twelve receivers do not reconnect in step)."""
        ceiling = min(settings.FIREHOSE_BACKOFF_MAX_S, settings.FIREHOSE_BACKOFF_BASE_S * 2 ** self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    # -- one connection -------------------------------------------------------------------------------------

    def consume(self, creds: Credentials, key: StreamKey) -> int:
        """Read one connection until it ends, fails or we are stopped; returns the lines read. Every complete
        event read is applied before this returns, whatever ends the connection."""
        request = StreamRequest(creds.base_url, creds.api_key, self.min_partition, self.max_partition,
                                ledger.resume_from_ms(key))
        stream = FirehoseStream(request)
        lines: queue.Queue = queue.Queue(maxsize=LINE_QUEUE_CHUNKS)  # groups of lines, one per chunk received
        reader = threading.Thread(target=self._read, args=(stream, lines), name="firehose-reader", daemon=True)
        reader.start()
        writer = _Writer(self, key, creds)
        batch = writer.new_batch()
        batch_started = time.monotonic()
        last_status = 0.0
        count = 0
        end: _End | None = None
        try:
            while not self.stop.is_set():
                try:
                    item = lines.get(timeout=settings.FIREHOSE_FLUSH_INTERVAL_S)
                except queue.Empty:
                    batch = self._flush(writer, batch)
                    continue
                if isinstance(item, _End):
                    end = item
                    break
                if not count:
                    ledger.mark_connection(key, connected=True)
                    ledger.touch(key)
                    ledger.stream_back(key, creds.tenant_ids, request.from_timestamp_ms)
                    logger.info("firehose: connected (partitions %d-%d, from %s)", self.min_partition,
                                self.max_partition, request.from_timestamp_ms)
                count += len(item)
                if time.monotonic() - last_status >= STATUS_EVERY_S:
                    ledger.touch(key)
                    last_status = time.monotonic()
                size = settings.FIREHOSE_BATCH_SIZE
                parse = self._parse
                for line in item:
                    event = parse(key, line)
                    if event is None:
                        continue
                    if not batch.uids:
                        batch_started = time.monotonic()
                    batch.add(event)  # read now, while its JSON is in the cache; only the reading is kept
                    if len(batch.uids) >= size:
                        batch = self._flush(writer, batch)
                if batch.uids and time.monotonic() - batch_started >= settings.FIREHOSE_FLUSH_INTERVAL_S:
                    batch = self._flush(writer, batch)
        finally:
            stream.close()
            try:
                if writer.error is None:
                    self._drain(lines, key, batch)
                    self._flush(writer, batch)  # complete events already read are applied, also on SIGTERM
            finally:
                writer.close()  # waits until every batch handed over is applied; raises a failure
                reader.join(timeout=5)
        if end is not None and end.error is not None:
            end.error.lines = count  # type: ignore[attr-defined]
            raise end.error
        return count

    def _drain(self, lines: queue.Queue, key: StreamKey, batch: ledger.PreparedBatch) -> None:
        """Complete lines already queued when the connection ended still count."""
        while True:
            try:
                item = lines.get_nowait()
            except queue.Empty:
                return
            if not isinstance(item, _End):
                for line in item:
                    event = self._parse(key, line)
                    if event is not None:
                        batch.add(event)

    def _parse(self, key: StreamKey, line: bytes) -> Event | None:
        try:
            return parse_line(line)
        except BadLine as error:
            logger.warning("firehose: bad line set aside: %s", error)
            ledger.set_aside(key, str(error), line)
            return None

    def _flush(self, writer: _Writer, batch: ledger.PreparedBatch) -> ledger.PreparedBatch:
        """Hand the batch to the writer; returns the next (a new one, unless this one was empty)."""
        if not batch.uids:
            return batch
        writer.submit(batch)
        return writer.new_batch()

    def _apply(self, key: StreamKey, batch: ledger.PreparedBatch, creds: Credentials) -> None:
        """The writer's work: one batch, one transaction."""
        outcome = ledger.apply_prepared(key, batch)
        self.batches += 1
        if outcome.skipped:
            logger.debug("firehose: skipped %s", dict(outcome.skipped))
        if self.batches % PRUNE_EVERY_BATCHES == 0:
            ledger.prune_seen()

    def _read(self, stream: FirehoseStream, lines: queue.Queue) -> None:
        end = _End()
        try:
            for group in stream.line_groups():
                while True:
                    try:
                        lines.put(group, timeout=0.5)
                        break
                    except queue.Full:
                        if self.stop.is_set():
                            return
        except (StreamError, StreamRefused) as error:
            end = _End(error)
        except Exception as error:  # noqa: BLE001 - anything else still ends this connection, visibly
            logger.exception("firehose reader failed")
            end = _End(StreamError(f"reader failed: {error!r}"))
        lines.put(end)
