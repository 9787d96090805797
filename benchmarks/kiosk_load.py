"""A lean HTTP/1.1 load generator for ``benchmarks.kiosk_status``: one process, asyncio protocols, keep-alive.

Not Django, and no HTTP library: on a 2-core machine the generator competes with gunicorn (and the database) for
the CPU, so every microsecond it spends is taken from the server being measured. Requests are pre-built byte
strings; responses are parsed by ``Content-Length`` (or chunked, or no body for 304), which is all this server
sends. One request at a time per connection (no pipelining), as kiosks do.

Targets are ``[path, headers]`` (a GET) or ``[path, headers, body]`` (a POST of that body, for
``benchmarks.webhook_load``).

Two modes:

* **closed**: each connection sends its next request as soon as the previous answer arrives; throughput is what
  the server sustains with ``connections`` requests outstanding, latency is send → last byte.
* **open**: requests are scheduled at a fixed ``rate`` whatever happens, and handed to an idle connection (or
  queued until one is free); latency runs from the *scheduled* time, so a stall is billed to every request it
  delayed (no coordinated omission).

``conditional`` is the share of requests that send ``If-None-Match`` with the ETag last seen for that path
(``learn`` first fetches every path once, before the warm-up, to know them); a 200 updates the ETag.

Protocol with the parent (one JSON line in, lines out): the parent writes the config as one JSON line on stdin;
the generator connects (and learns), prints ``ready``, waits for ``go <epoch>``, runs warm-up + window from that
wall-clock moment, and prints one JSON line of results. Only requests completed inside the window count
(closed) or scheduled inside it (open); its own CPU time over the window is in ``cpu_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import sys
import time
from collections import Counter, deque
from collections.abc import Callable


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``send`` a request, ``done(status, etag)`` is called with its answer."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: Callable[[Connection, int, bytes | None], None] | None = None
        self.path = ""
        self.alive = False
        self.keep_body = False  # learning needs /bench/worker's body; the load never reads one
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # asyncio sets TCP_NODELAY on TCP sockets
        self.alive = True

    def send(self, path: str, request: bytes, done: Callable[[Connection, int, bytes | None], None]) -> None:
        self.path, self.done = path, done
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.done is None:
            return
        buffer = self.buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(buffer[:head_end])
        lower = head.lower()
        status = int(head[9:12])
        body_start = head_end + 4
        if status == 304 or status == 204 or status < 200:
            end = body_start
        else:
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                end = body_start + int(lower[at + 17:stop if stop >= 0 else len(lower)])
            elif b"\r\ntransfer-encoding: chunked" in lower:
                end = _chunked_end(buffer, body_start)
                if end < 0:
                    return
            else:
                return  # read to the close: not used by this server
        if len(buffer) < end:
            return
        etag = None
        at = lower.find(b"\r\netag:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            etag = head[at + 7:stop if stop >= 0 else len(head)].strip()
        closing = b"\r\nconnection: close" in lower
        if self.keep_body:
            self.body = bytes(buffer[body_start:end])
        del buffer[:end]
        done, self.done = self.done, None
        if closing:
            self.alive = False
            self.transport.close()
        done(self, status, etag)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.done is not None:  # the server closed the connection under a request
            done, self.done = self.done, None
            done(self, 0, None)
        self.generator.lost(self)


def _chunked_end(buffer: bytearray, start: int) -> int:
    """Where a chunked body that starts at ``start`` ends, or -1 while incomplete."""
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return -1
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        at = line_end + 2 + size + 2
        if size == 0:
            return at if len(buffer) >= at else -1
        if len(buffer) < at:
            return -1


class Generator:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.host, self.port = config["host"], config["port"]
        # (path, headers) for a GET, (path, headers, body) for a POST
        self.targets: list[tuple[str, ...]] = [tuple(target) for target in config["targets"]]
        self.conditional = float(config.get("conditional", 0.0))
        self.rng = random.Random(config.get("seed", 1))
        self.etags: dict[str, bytes] = {}
        self.connections: list[Connection] = []
        self.idle: deque[Connection] = deque()
        self.pending: deque[tuple[float, str, bytes]] = deque()
        self.window = (float("inf"), float("inf"))
        self.stop_at = float("inf")
        self.latencies: list[int] = []  # microseconds, of requests counted in the window
        self.statuses: Counter[str] = Counter()  # in the window; "0" = connection closed under a request
        self.all_statuses: Counter[str] = Counter()
        self.completed = 0
        self.outstanding = 0
        self.reconnects = 0
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        self.mode = config["mode"]
        self.running = False
        head = f"Host: {self.host}:{self.port}\r\nUser-Agent: kiosk-bench\r\n"
        self._head = head

    # --- requests ---------------------------------------------------------------------------------------------

    def request(self, path: str, headers: str, conditional: bool, body: str | None = None) -> bytes:
        if body is not None:  # a POST (benchmarks.webhook_load): headers name the content type
            data = body.encode()
            return f"POST {path} HTTP/1.1\r\n{self._head}{headers}Content-Length: {len(data)}\r\n\r\n".encode() + data
        etag = self.etags.get(path) if conditional else None
        extra = f"If-None-Match: {etag.decode()}\r\n" if etag else ""
        return f"GET {path} HTTP/1.1\r\n{self._head}{headers}{extra}\r\n".encode()

    def next_request(self) -> tuple[str, bytes]:
        path, headers, *body = self.targets[self.rng.randrange(len(self.targets))]
        conditional = self.conditional > 0 and (self.conditional >= 1 or self.rng.random() < self.conditional)
        return path, self.request(path, headers, conditional, *body)

    # --- connections ------------------------------------------------------------------------------------------

    async def connect(self) -> Connection:
        _transport, connection = await self.loop.create_connection(lambda: Connection(self), self.host, self.port)
        self.connections.append(connection)
        return connection

    def lost(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        with contextlib.suppress(ValueError):
            self.idle.remove(connection)
        if self.loop.time() < self.stop_at:
            self.reconnects += 1
            self.loop.create_task(self._replace())

    async def _replace(self) -> None:
        connection = await self.connect()
        if not self.running:
            return
        if self.mode == "closed":
            self._send_closed(connection)
        else:
            self._free(connection)

    # --- learning ETags ---------------------------------------------------------------------------------------

    async def learn(self) -> int:
        """Fetch every target once per gunicorn worker (no If-None-Match), to know their ETags and so that each
        worker has read every room once, as it has in steady state: the connections are grouped by the worker
        that serves them (``/bench/worker``) and each target is fetched on one connection of each group."""
        workers: dict[int, list[Connection]] = {}
        asked = [self.loop.create_future() for _ in self.connections]

        def answered(future: asyncio.Future) -> Callable[[Connection, int, bytes | None], None]:
            def done(connection: Connection, status: int, etag: bytes | None) -> None:
                future.set_result((connection, status, connection.body))
            return done

        for connection, future in zip(list(self.connections), asked, strict=True):
            connection.keep_body = True
            connection.send("/bench/worker", self.request("/bench/worker", "", False), answered(future))
        for connection, status, body in await asyncio.gather(*asked):
            connection.keep_body = False
            if status == 200:
                workers.setdefault(json.loads(body)["pid"], []).append(connection)
        self.workers_primed = len(workers)
        # All groups at once: a connection left idle for gunicorn's keep-alive (2 s) would be closed.
        await asyncio.gather(*(self._learn_on(group) for group in workers.values()))
        return len(self.etags)

    async def _learn_on(self, connections: list[Connection]) -> None:
        todo = deque(self.targets)
        done_all = self.loop.create_future()
        active = [0]

        def fetched(connection: Connection, status: int, etag: bytes | None) -> None:
            if status == 200 and etag:
                self.etags[connection.path] = etag
            active[0] -= 1
            step(connection)

        def step(connection: Connection) -> None:
            if todo and connection.alive:
                path, headers = todo.popleft()
                active[0] += 1
                connection.send(path, self.request(path, headers, False), fetched)
            elif active[0] == 0 and not done_all.done():
                done_all.set_result(None)

        for connection in connections:
            step(connection)
        await done_all

    # --- the run ----------------------------------------------------------------------------------------------

    def _record(self, started: float, status: int) -> None:
        now = self.loop.time()
        key = str(status)
        self.all_statuses[key] += 1
        low, high = self.window
        counted = (low <= now < high) if self.mode == "closed" else (low <= started < high)
        if counted:
            self.statuses[key] += 1
            self.completed += 1
            self.latencies.append(int((now - started) * 1_000_000))

    def _answered(self, started: float) -> Callable[[Connection, int, bytes | None], None]:
        def done(connection: Connection, status: int, etag: bytes | None) -> None:
            self.outstanding -= 1
            if status == 200 and etag:
                self.etags[connection.path] = etag
            self._record(started, status)
            if self.mode == "closed":
                if connection.alive:
                    self._send_closed(connection)
            elif connection.alive:
                self._free(connection)
            if self.loop.time() >= self.stop_at and self.outstanding == 0 and not self.finished.done():
                self.finished.set_result(None)

        return done

    def _send_closed(self, connection: Connection) -> None:
        if self.loop.time() >= self.stop_at:
            return
        path, request = self.next_request()
        self.outstanding += 1
        connection.send(path, request, self._answered(self.loop.time()))

    def _free(self, connection: Connection) -> None:
        if self.pending:
            scheduled, path, request = self.pending.popleft()
            self.outstanding += 1
            connection.send(path, request, self._answered(scheduled))
        else:
            self.idle.append(connection)

    async def run(self, start_wall: float) -> None:
        config = self.config
        start = self.loop.time() + (start_wall - time.time())
        low = start + config["warmup_s"]
        self.window = (low, low + config["duration_s"])
        self.stop_at = self.window[1]
        await asyncio.sleep(max(start - self.loop.time(), 0))
        self.running = True
        self.loop.call_at(low, self._mark, "start")
        self.loop.call_at(self.window[1], self._mark, "end")
        if self.mode == "closed":
            for connection in list(self.connections):
                self._send_closed(connection)
        else:
            self.idle = deque(self.connections)
            await self._dispatch(start, float(config["rate"]))
            if self.outstanding == 0 and not self.pending and not self.finished.done():
                self.finished.set_result(None)  # the last answer came before the last scheduled moment
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.finished), timeout=self.stop_at - self.loop.time() + 10)

    async def _dispatch(self, start: float, rate: float) -> None:
        """Release request number n at ``start + n / rate``; a late wake-up sends the overdue ones at once."""
        n = 0
        interval = 1.0 / rate
        while True:
            now = self.loop.time()
            while start + n * interval <= now:
                scheduled = start + n * interval
                if scheduled >= self.stop_at:
                    return
                path, request = self.next_request()
                n += 1
                if self.idle:
                    connection = self.idle.popleft()
                    self.outstanding += 1
                    connection.send(path, request, self._answered(scheduled))
                else:
                    self.pending.append((scheduled, path, request))
            await asyncio.sleep(max(start + n * interval - self.loop.time(), 0))

    def _mark(self, what: str) -> None:
        if what == "start":
            self.cpu = [cpu_seconds()]
        else:
            self.cpu.append(cpu_seconds())


async def main() -> None:
    config = json.loads(sys.stdin.readline())
    generator = Generator(config)
    for _ in range(config["connections"]):
        await generator.connect()
    learned = await generator.learn() if config.get("learn") else 0
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    command, start_wall = line.split()
    assert command == "go"
    await generator.run(float(start_wall))
    cpu = getattr(generator, "cpu", [0.0, 0.0])
    unanswered = generator.outstanding + len(generator.pending)
    print(json.dumps({
        "completed": generator.completed,
        "duration_s": config["duration_s"],
        "latencies_us": generator.latencies,
        "statuses": dict(generator.statuses),
        "all_statuses": dict(generator.all_statuses),
        "unanswered": unanswered,
        "reconnects": generator.reconnects,
        "learned": learned,
        "workers_primed": getattr(generator, "workers_primed", 0),
        "connections": len(generator.connections),
        "cpu_s": (cpu[1] - cpu[0]) if len(cpu) == 2 else None,
    }), flush=True)
    for connection in list(generator.connections):
        connection.transport.close()


if __name__ == "__main__":
    asyncio.run(main())
