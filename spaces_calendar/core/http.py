"""The one outbound HTTP seam: every provider client talks to the outside world through here.

Why one seam: timeouts, certificate verification, retries and error classification are easy to get subtly
wrong in each client separately (a missing timeout hangs a worker forever; a retried POST creates a
subscription twice; a 429 slept on for minutes blocks a Celery slot). Here they are decided once:

* :func:`build_session` gives a ``requests.Session`` with default (connect, read) timeouts and a ``verify``
  that the ``REQUESTS_CA_BUNDLE`` environment variable cannot silently replace.
* :func:`send` retries transient failures with capped exponential backoff and full jitter, honours
  ``Retry-After`` (seconds, fractional seconds or an HTTP-date) and turns every failure into one of the
  :class:`OutboundError` subclasses, whose messages never carry headers, query strings or bodies.

Settings (read at call time, all optional): ``OUTBOUND_CONNECT_TIMEOUT`` (5 s), ``OUTBOUND_READ_TIMEOUT``
(30 s), ``OUTBOUND_MAX_RETRIES`` (3), ``OUTBOUND_MAX_RETRY_WAIT`` (30 s), ``OUTBOUND_CA_BUNDLE`` (None).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

USER_AGENT = "spaces-calendar/0.1"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: First backoff ceiling in seconds; doubles per attempt, capped by the max retry wait.
BACKOFF_BASE = 0.5
BODY_EXCERPT_CHARS = 300
#: Google signals quota exhaustion with 403 and one of these reasons; it means "slow down", not "no access".
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})

# Indirections so tests can record the waits (and fix the jitter) instead of really sleeping.
_sleep: Callable[[float], None] = time.sleep
_random: Callable[[], float] = random.random


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------


class OutboundError(Exception):
    """Base of every failure of an outbound call. ``status`` is the HTTP status, or None without one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
        kind: str = "",
    ):
        super().__init__(message)
        self.status = status
        self.method = method
        #: The URL without query string, fragment or credentials.
        self.url = url
        #: The start of the response body (the provider's error description), for diagnosis.
        self.body_excerpt = body_excerpt
        #: What went wrong in one word: the status, or the requests exception's class name (``ReadTimeout``).
        self.kind = kind or (str(status) if status else type(self).__name__)


class TransientError(OutboundError):
    """Worth retrying later: connection failures, timeouts, 5xx (after our own retries)."""


class Throttled(TransientError):
    """The server asked us to slow down (429, or 503 with Retry-After); retry after ``retry_after`` s."""

    def __init__(self, retry_after: float, message: str | None = None, **details: Any):
        self.retry_after = float(retry_after)
        method, url = details.get("method", ""), details.get("url", "")
        text = message or f"{method} {url} throttled; retry after {self.retry_after:.3f} s".strip()
        super().__init__(text, **details)


class PermanentError(OutboundError):
    """Retrying the same request will not help: 4xx (other than 401/403/429), bad URL, TLS refusal."""


class TLSError(PermanentError):
    """The server's certificate was refused. Never transient: retrying cannot make it trustworthy."""


class AuthError(OutboundError):
    """401/403: the credentials were refused or lack permission (consent revoked, token expired, ...)."""


# --------------------------------------------------------------------------------------------------------
# Settings and session
# --------------------------------------------------------------------------------------------------------


def _setting(name: str, default: Any) -> Any:
    """A Django setting read now (tests override them), or ``default`` if unset or Django is unconfigured."""
    if not settings.configured:
        return default
    value = getattr(settings, name, None)
    return default if value is None else value


def default_timeout() -> tuple[float, float]:
    """(connect, read) timeouts applied to every request that does not pass its own ``timeout``."""
    return (
        float(_setting("OUTBOUND_CONNECT_TIMEOUT", 5.0)),
        float(_setting("OUTBOUND_READ_TIMEOUT", 30.0)),
    )


# Session.request's parameters after (method, url), in order, so positional callers are handled too.
_REQUEST_PARAMETERS = (
    "params", "data", "headers", "cookies", "files", "auth", "timeout",
    "allow_redirects", "proxies", "hooks", "stream", "verify", "cert", "json",
)  # fmt: skip


class OutboundSession(requests.Session):
    """A session that always applies default timeouts and its own ``verify``.

    requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` override a session's ``verify`` unless
    ``verify`` is passed per request, which would silently swap our CA bundle for the system one. Passing it
    on every request keeps environment proxies working (``trust_env`` stays on) without that surprise.
    """

    def __init__(self, verify: str | bool = True):
        super().__init__()
        self.verify = verify
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if len(args) > len(_REQUEST_PARAMETERS):
            raise TypeError("too many positional arguments")
        kwargs.update(zip(_REQUEST_PARAMETERS, args, strict=False))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = default_timeout()
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, **kwargs)


def build_session(*, verify: str | bool | None = None) -> OutboundSession:
    """A session for one client. ``verify`` defaults to ``OUTBOUND_CA_BUNDLE`` if set, else system trust.

    Note that a CA bundle path *replaces* the system trust store for this session (that is how requests
    works), so ``OUTBOUND_CA_BUNDLE`` is meant for the sandbox and tests, where every server is a fake.
    """
    if verify is None:
        verify = _setting("OUTBOUND_CA_BUNDLE", None) or True
    return OutboundSession(verify)


# --------------------------------------------------------------------------------------------------------
# Sending with retries
# --------------------------------------------------------------------------------------------------------


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    idempotent: bool | None = None,
    max_retries: int | None = None,
    max_wait: float | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Perform a request with bounded retries; return a 2xx/3xx response or raise an :class:`OutboundError`.

    Transient failures (connection errors, timeouts, 429, 500/502/503/504) are retried up to ``max_retries``
    times, but only for idempotent methods unless ``idempotent=True`` (a retried POST may act twice).
    A ``Retry-After`` longer than ``max_wait`` raises :class:`Throttled` at once rather than blocking the
    worker, so the caller (typically a Celery task) can retry later. ``kwargs`` go to ``session.request``.
    """
    method = method.upper()
    retries = int(_setting("OUTBOUND_MAX_RETRIES", 3) if max_retries is None else max_retries)
    wait_cap = float(_setting("OUTBOUND_MAX_RETRY_WAIT", 30.0) if max_wait is None else max_wait)
    may_retry = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
    target = safe_url(url)
    attempts = retries + 1 if may_retry else 1
    for attempt in range(1, attempts + 1):
        outcome = _attempt(session, method, url, target, kwargs)
        if isinstance(outcome, requests.Response):
            return outcome
        if outcome.retry_after is not None and outcome.retry_after > wait_cap:
            raise outcome.throttled(outcome.retry_after)
        wait = outcome.retry_after if outcome.retry_after is not None else _backoff(attempt, wait_cap)
        if attempt == attempts:
            raise outcome.throttled(wait) if outcome.throttling else outcome.error
        logger.warning(
            "outbound retry: %s %s -> %s (attempt %d of %d, waiting %.3f s)",
            method,
            target,
            outcome.reason,
            attempt,
            attempts,
            wait,
        )
        _sleep(wait)
    raise AssertionError("unreachable: the last attempt always returns or raises")


@dataclass(frozen=True)
class _Retryable:
    """A failed attempt that may be retried: the error to raise if not, and what the server asked for."""

    error: TransientError
    retry_after: float | None = None
    #: The server asked us to slow down (429, Google's rate-limit 403, or 503 with Retry-After).
    throttling: bool = False
    #: What happened, for the retry log line: "503 Service Unavailable", "ReadTimeout (TimeoutError)", ...
    reason: str = ""

    def throttled(self, wait: float) -> Throttled:
        error = self.error
        message = f"{error}; retry after {wait:.3f} s"
        return Throttled(wait, message, status=error.status, method=error.method, url=error.url)


def _attempt(
    session: requests.Session, method: str, url: str, target: str, kwargs: dict[str, Any]
) -> requests.Response | _Retryable:
    """One try: the response to return or a retryable failure; raises for failures never worth retrying."""
    try:
        response = session.request(method, url, **kwargs)
    except requests.RequestException as error:
        raise_if_permanent(error, method, target)
        detail = describe(error)
        failure = TransientError(
            f"{method} {target} failed: {detail}", method=method, url=target, kind=type(error).__name__
        )
        return _Retryable(failure, reason=detail)
    status = response.status_code
    if status < 400:
        return response
    excerpt = _excerpt(response)
    response.close()
    status_line = f"{status} {response.reason or ''}".rstrip()
    reason = f"{method} {target} -> {status_line}"
    rate_limited = status == 429 or (status == 403 and _is_rate_limit(excerpt))
    if status in (401, 403) and not rate_limited:
        raise AuthError(reason, status=status, method=method, url=target, body_excerpt=excerpt)
    if status not in RETRYABLE_STATUSES and not rate_limited:
        raise PermanentError(reason, status=status, method=method, url=target, body_excerpt=excerpt)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    throttling = rate_limited or (status == 503 and retry_after is not None)
    error = TransientError(reason, status=status, method=method, url=target)
    return _Retryable(error, retry_after, throttling, status_line)


def _backoff(attempt: int, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], so many clients do not retry in step."""
    base = float(_setting("OUTBOUND_BACKOFF_BASE", BACKOFF_BASE))
    return _random() * min(cap, base * 2 ** (attempt - 1))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds (fractional allowed) or an HTTP-date.

    Returns None for a missing or unreadable value, and never a negative wait.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until(value, now or datetime.now(UTC))
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --------------------------------------------------------------------------------------------------------
# Classification and safe descriptions
# --------------------------------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL without query string, fragment and credentials: fit for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def raise_if_permanent(error: requests.RequestException, method: str, target: str) -> None:
    """Raise for client-side failures that retrying cannot fix; return for transient network trouble."""
    certificate_problem = _certificate_problem(error)
    if certificate_problem is not None:
        message = f"{method} {target}: certificate refused: {certificate_problem}"
        raise TLSError(message, method=method, url=target, kind="TLSError") from None
    if not isinstance(error, _TRANSIENT_EXCEPTIONS):
        message = f"{method} {target} failed: {describe(error)}"
        raise PermanentError(message, method=method, url=target, kind=type(error).__name__) from None


def _certificate_problem(error: BaseException) -> str | None:
    """The verification message if the failure is a refused certificate (not just a TLS hiccup)."""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or "certificate verify failed")
    return None


def describe(error: BaseException) -> str:
    """Exception type plus root cause type and OS reason, never ``str(error)``: that embeds the full URL."""
    root = list(_causes(error))[-1]
    if root is error:
        return type(error).__name__
    detail = f"{type(error).__name__} ({type(root).__name__}"
    if isinstance(root, OSError) and root.strerror:
        detail += f": {root.strerror}"
    return detail + ")"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps, via ``__cause__``/``__context__``, urllib3's ``reason`` and args."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = _wrapped(current)


def _wrapped(error: BaseException) -> BaseException | None:
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in error.args:
        if isinstance(arg, BaseException):
            return arg
    return error.__cause__ or error.__context__


def _excerpt(response: requests.Response) -> str:
    try:
        text = response.text
    except (requests.RequestException, OSError, ValueError):
        return ""
    return " ".join(text.split())[:BODY_EXCERPT_CHARS]


def _is_rate_limit(excerpt: str) -> bool:
    return any(reason in excerpt for reason in RATE_LIMIT_REASONS)
