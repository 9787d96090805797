"""A small fake-server harness: real HTTP(S) on real sockets, scripted by tests.

The provider fakes (Microsoft login + Graph, Google, Webex, Cisco Spaces Firehose) are built on this, so the
code under test goes through its real client libraries, connection pools, TLS verification, timeouts and
retries instead of mocks. The same servers also run for hours in sandbox mode, hence: threaded, keep-alive,
streaming with per-chunk flushes, handler errors answered with 500 (and kept for tests to see) rather than
killing the server, and a clean ``stop()`` that also ends open keep-alive and streaming connections.

Typical use::

    with FakeServer(tls=True) as server:
        @server.route("GET", r"/users/(?P<room>[^/]+)/calendarView")
        def calendar_view(request: FakeRequest) -> FakeResponse:
            return FakeResponse.json({"value": [], "room": request.params["room"]})

        server.add_fault(Fault(status=429, retry_after="2.128"), path=r"/users/.*")
        ...
        assert len(server.requests_to(r"/users/.*/calendarView")) == 2
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from . import tls as tls_certs

logger = logging.getLogger(__name__)

#: What a handler may put in a response body; any other iterable is streamed chunk by chunk.
Body = bytes | str | dict[str, Any] | list[Any] | Iterable[bytes] | None
PathPattern = str | re.Pattern[str]
TLSMode = bool | Literal["untrusted"]

_NO_BODY_STATUSES = frozenset({204, 304})
_HANDSHAKE_TIMEOUT = 10.0


def ca_bundle_path() -> str:
    """PEM file with the CA that ``FakeServer(tls=True)`` certificates chain to (pass it as ``verify=``)."""
    return tls_certs.ca_bundle_path()


# --------------------------------------------------------------------------------------------------------
# Requests, responses, faults
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeRequest:
    """One request as the fake server saw it; also the entry kept in the request log."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes
    #: Wall-clock arrival time (``time.time()``).
    timestamp: float
    #: Arrival time on the monotonic clock, for measuring intervals between requests.
    monotonic: float
    #: The route's regex match (``None`` in the log entry of an unrouted request).
    match: re.Match[str] | None = None
    #: The scripted fault applied to this request, if any.
    fault: Fault | None = None
    #: The client's (host, port): one port across requests shows a kept-alive connection.
    client: tuple[str, int] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``: most APIs never repeat a parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return jsonlib.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def params(self) -> dict[str, str]:
        """Named groups of the route pattern, e.g. ``{"room": "..."}`` for ``(?P<room>[^/]+)``."""
        return self.match.groupdict() if self.match else {}

    @property
    def groups(self) -> tuple[str, ...]:
        """Positional groups of the route pattern."""
        return self.match.groups() if self.match else ()


@dataclass
class FakeResponse:
    """What a handler answers. ``body`` is encoded by type (see :data:`Body`); headers override defaults."""

    status: int = 200
    body: Body = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> FakeResponse:
        encoded = jsonlib.dumps(data).encode("utf-8")
        return cls(status, encoded, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> FakeResponse:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def stream(
        cls,
        chunks: Iterable[bytes],
        content_type: str = "application/x-ndjson",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> FakeResponse:
        """A chunked response, flushed chunk by chunk, e.g. NDJSON lines from a generator."""
        return cls(status, chunks, {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> FakeResponse:
        return cls(status, None, dict(headers or {}))


#: A handler may also return a bare body (answered with 200) or None (answered with 204).
HandlerResult = FakeResponse | dict[str, Any] | list[Any] | str | bytes | None
Handler = Callable[[FakeRequest], HandlerResult]


class CutConnection(Exception):  # noqa: N818 - a signal to the harness, not an error
    """Raised by a streaming body's generator to end the connection abruptly on purpose (not recorded as an
    error of the fake)."""


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour applied to a request before (or instead of) its handler.

    Fields combine: ``Fault(delay=2)`` answers normally but late; ``Fault(status=503, retry_after="2.128")``
    answers 503 with that header instead of running the handler; ``Fault(retry_after="1")`` adds the header
    to the handler's own answer; ``Fault(drop=True)`` closes the connection without answering;
    ``Fault(drop_mid_body=N)`` sends the headers and the first N body bytes, then cuts the connection.
    """

    status: int | None = None
    #: Body of the ``status`` answer: dict/list → JSON, str → text, bytes as is. Defaults to a JSON error.
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (interrupted when the server stops).
    delay: float = 0.0
    #: Retry-After header value, kept as a string so fractional seconds and HTTP-dates can be scripted.
    retry_after: str | None = None
    drop: bool = False
    drop_mid_body: int | None = None

    def __post_init__(self) -> None:
        if self.drop and (self.status is not None or self.drop_mid_body is not None):
            raise ValueError("a dropped connection sends nothing: drop excludes status and drop_mid_body")
        if self.delay < 0 or (self.drop_mid_body is not None and self.drop_mid_body < 0):
            raise ValueError("delay and drop_mid_body must not be negative")

    def response(self) -> FakeResponse:
        """The answer that replaces the handler's when ``status`` is set."""
        assert self.status is not None
        if isinstance(self.body, str):
            return FakeResponse.text(self.body, self.status)
        if isinstance(self.body, bytes):
            return FakeResponse(self.status, self.body)
        body = self.body if self.body is not None else {"error": "injected fault", "status": self.status}
        return FakeResponse.json(body, self.status)

    def decorate(self, response: FakeResponse) -> FakeResponse:
        """Add the fault's extra headers (and Retry-After) to whichever answer goes out."""
        extra = dict(self.headers)
        if self.retry_after is not None:
            extra["Retry-After"] = str(self.retry_after)
        return replace(response, headers={**response.headers, **extra}) if extra else response


@dataclass
class _QueuedFault:
    fault: Fault
    path: PathPattern | None
    method: str | None
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method is None or self.method == method
        return method_ok and (self.path is None or path_matches(self.path, path))


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def path_matches(pattern: PathPattern, path: str) -> bool:
    """True if ``path`` equals ``pattern`` or fully matches it as a regex.

    Exact equality first, so literal paths such as ``/v1.0/$batch`` work without escaping.
    """
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(path) is not None
    if pattern == path:
        return True
    try:
        return re.fullmatch(pattern, path) is not None
    except re.error:
        return False


def _encode_body(body: Body) -> tuple[bytes | Iterable[bytes], str | None]:
    """Bytes (or a chunk iterable for streaming) plus the default Content-Type for that kind of body."""
    if body is None:
        return b"", None
    if isinstance(body, bytes | bytearray):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, dict | list):
        return jsonlib.dumps(body).encode("utf-8"), "application/json"
    return body, None


def _coerce(result: HandlerResult) -> FakeResponse:
    if isinstance(result, FakeResponse):
        return result
    if result is None:
        return FakeResponse.empty()
    return FakeResponse(200, result)


# --------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------


class FakeServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with routes, a request log and scripted faults.

    ``tls=True`` serves HTTPS with a certificate from the shared test CA (see :func:`ca_bundle_path`);
    ``tls="untrusted"`` uses a CA no client trusts. Routes registered later win over earlier ones, so a test
    can override one route of a provider fake.
    """

    def __init__(self, *, tls: TLSMode = False, host: str = "127.0.0.1", port: int = 0, name: str = "fake"):
        if tls not in (True, False, "untrusted"):
            raise ValueError(f"tls must be True, False or 'untrusted', not {tls!r}")
        self.name = name
        self.tls: TLSMode = tls
        self.host = host
        self.stopped = threading.Event()
        self._requested_port = port
        self._lock = threading.Lock()
        self._routes: list[_Route] = []
        self._faults: list[_QueuedFault] = []
        self._log: list[FakeRequest] = []
        self._errors: list[BaseException] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        if self._httpd is not None:
            return self
        context = tls_certs.server_context(trusted=self.tls is True) if self.tls else None
        self.stopped.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self, context)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-server"
        )
        self._thread.daemon = True
        self._thread.start()
        logger.debug("%s listening on %s", self.name, self.base_url)
        return self

    def stop(self) -> None:
        """Stop accepting, end open connections (keep-alive and streams) and wait for the serving thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopped.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``https://localhost:PORT`` with TLS (the certificate names localhost), else ``http://HOST:PORT``."""
        if self.tls:
            return f"https://localhost:{self.port}"
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- routes ------------------------------------------------------------------------------------------

    def add_route(self, method: str, pattern: PathPattern, handler: Handler) -> None:
        """Answer ``method`` (or ``"*"`` for any) on paths fully matching ``pattern`` with ``handler``."""
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        with self._lock:
            self._routes.append(_Route(method.upper(), compiled, handler))

    def route(self, method: str, pattern: PathPattern) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add_route`."""

        def register(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler)
            return handler

        return register

    def _resolve(self, method: str, path: str) -> tuple[_Route | None, re.Match[str] | None, bool]:
        """The newest matching route and its match, plus whether the path is known under another method."""
        path_known = False
        with self._lock:
            routes = list(reversed(self._routes))
        for route in routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method in ("*", method):
                return route, match, True
            path_known = True
        return None, None, path_known

    # -- faults ------------------------------------------------------------------------------------------

    def add_fault(
        self, fault: Fault, *, path: PathPattern | None = None, method: str | None = None, times: int = 1
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``path``/``method`` (None = any).

        Faults queue in FIFO order: a request takes the oldest queued fault that matches it.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_QueuedFault(fault, path, method.upper() if method else None, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still queued (so a test can check that all were used)."""
        with self._lock:
            return sum(queued.remaining for queued in self._faults)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for queued in self._faults:
                if queued.matches(method, path):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._faults.remove(queued)
                    return queued.fault
        return None

    # -- request log and errors --------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: PathPattern, method: str | None = None) -> list[FakeRequest]:
        """Logged requests whose path equals or fully matches ``path`` (and ``method``, if given)."""
        wanted = method.upper() if method else None
        return [r for r in self.requests if path_matches(path, r.path) and wanted in (None, r.method)]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by handlers (each was answered with a 500), oldest first."""
        with self._lock:
            return list(self._errors)

    def raise_errors(self) -> None:
        """Re-raise the first handler exception, so a test fails with the fake's real cause."""
        errors = self.errors
        if errors:
            raise errors[0]

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _record_error(self, error: BaseException) -> None:
        logger.warning("%s: handler raised %r", self.name, error, exc_info=error)
        with self._lock:
            self._errors.append(error)

    # -- answering ---------------------------------------------------------------------------------------

    def _answer(self, request: FakeRequest, route: _Route | None, path_known: bool) -> FakeResponse:
        """The response for a request that was not dropped: fault, handler, 404/405 or 500."""
        fault = request.fault
        if fault is not None and fault.status is not None:
            response = fault.response()
        elif route is None and path_known:
            response = FakeResponse.json({"error": "method not allowed", "path": request.path}, 405)
        elif route is None:
            response = FakeResponse.json({"error": "not found", "path": request.path}, 404)
        else:
            try:
                response = _coerce(route.handler(request))
            except Exception as error:  # a fake's bug must not take the server down
                self._record_error(error)
                response = FakeResponse.json({"error": "handler raised", "detail": repr(error)}, 500)
        return fault.decorate(response) if fault is not None else response


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that does the TLS handshake per connection thread and tracks open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeServer, context: ssl.SSLContext | None):
        self.fake = fake
        self.tls_context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's own thread, so a slow or failing handshake never blocks ``accept``."""
        connection: socket.socket = request
        if self.tls_context is not None:
            connection = self._handshake(request)
            if connection is None:
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                _close_quietly(connection)

    def _handshake(self, raw: socket.socket) -> ssl.SSLSocket | None:
        assert self.tls_context is not None
        raw.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            connection = self.tls_context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as error:  # e.g. the client refused our certificate
            logger.debug("%s: TLS handshake failed: %s", self.fake.name, error)
            return None
        connection.settimeout(None)
        return connection

    def close_connections(self) -> None:
        """Shut down open connections so idle keep-alive and streaming threads end promptly."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                # The plain-socket shutdown, even for TLS: no close_notify dance with a reading thread.
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are normal; anything else is a harness bug worth surfacing to tests."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError | ValueError):
            logger.debug("%s: connection error from %s: %r", self.fake.name, client_address, error)
        elif error is not None:
            self.fake._record_error(error)


def _close_quietly(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.close()


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, consults the FakeServer, writes (or withholds) the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "spaces-calendar-fake/0.1"
    # The head and the body go out in separate writes: with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms on Linux), which would add that much phantom latency to every answer.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s: " + format, self.server.fake.name, *args)

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        request, route, path_known = self._parse(body)
        fake._record(request)
        fault = request.fault
        if fault is not None and fault.delay:
            fake.stopped.wait(fault.delay)
        if fault is not None and fault.drop:
            self.close_connection = True
            return
        response = fake._answer(request, route, path_known)
        self._send(response, cut_after=fault.drop_mid_body if fault is not None else None)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _parse(self, body: bytes) -> tuple[FakeRequest, _Route | None, bool]:
        fake = self.server.fake
        split = urlsplit(self.path)
        path = split.path or "/"
        fault = fake._take_fault(self.command, path)
        route, match, path_known = fake._resolve(self.command, path)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        request = FakeRequest(
            method=self.command,
            path=path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            timestamp=time.time(),
            monotonic=time.monotonic(),
            match=match,
            fault=fault,
            client=(self.client_address[0], self.client_address[1]),
        )
        return request, route, path_known

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked_body(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: FakeResponse, *, cut_after: int | None) -> None:
        payload, default_type = _encode_body(response.body)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(response.headers)
        if default_type and "Content-Type" not in headers:
            headers["Content-Type"] = default_type
        streaming = not isinstance(payload, bytes)
        has_body = response.status not in _NO_BODY_STATUSES and response.status >= 200
        if streaming:
            headers.pop("Content-Length", None)
            headers["Transfer-Encoding"] = "chunked"
        elif has_body:
            headers["Content-Length"] = str(len(payload))
        try:
            self._write_head(response.status, headers)
            if self.command == "HEAD" or not has_body:
                return
            if streaming:
                self._write_chunks(iter(payload), cut_after)
            else:
                self._write_fixed(payload, cut_after)
        except OSError as error:  # the client went away
            logger.debug("%s: client disconnected: %r", self.server.fake.name, error)
            self.close_connection = True
        finally:
            close = getattr(payload, "close", None)
            if streaming and callable(close):
                close()  # run the generator's cleanup even when the client hung up

    def _write_head(self, status: int, headers: Mapping[str, str]) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        self.send_response(status, phrase)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write_fixed(self, payload: bytes, cut_after: int | None) -> None:
        if cut_after is None:
            self.wfile.write(payload)
            return
        self.wfile.write(payload[:cut_after])
        self._cut()

    def _write_chunks(self, chunks: Iterator[bytes], cut_after: int | None) -> None:
        """Write each non-empty chunk as it comes (an empty chunk would end the body), flushing each."""
        sent = 0
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except CutConnection:  # a scripted cut, not a failure of the fake
                self._cut()
                return
            except Exception as error:  # the stream's generator failed: record it and cut the stream
                self.server.fake._record_error(error)
                self._cut()
                return
            if not chunk:
                continue
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            if cut_after is not None and sent + len(chunk) > cut_after:
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk[: cut_after - sent])
                self._cut()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            sent += len(chunk)
        if cut_after is not None:
            self._cut()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _cut(self) -> None:
        """End the connection abruptly, mid-body, as a flaky network or a crashing upstream would."""
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
