"""Structured logging: every line carries tenant, request id and Celery task id; secrets are redacted.

The context lives in contextvars so it follows a request or a task through every function without being passed
around. Redaction is a safety net: code never logs secrets on purpose, but a library's exception text or a
provider's error body might carry one.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import traceback
import uuid
from collections.abc import Iterator

from django.conf import settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SECRET_PATTERNS = [
    # "access_token": "...", refresh_token=..., client_secret: ..., apiKey, password, clientState
    re.compile(
        r"""(?P<key>["']?(?:access_token|refresh_token|id_token|client_secret|client_assertion|api_?key|password|"""
        r"""secret|client_?state|token)["']?\s*[:=]\s*["']?)(?P<value>[^"'\s&,}]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE),
    re.compile(r"(?P<key>x-api-key\s*[:=]\s*)(?P<value>\S+)", re.IGNORECASE),
]
REDACTED = "[redacted]"
# In URLs (access logs, "Not Found: <path>"): a kiosk token anywhere (``kt_<prefix>_<secret>``; the prefix is not
# secret and says which kiosk it was; anything else from kt_ on that is long enough to be a token, mistyped or
# made up, goes whole), and the value of a query parameter whose name says it is a secret.
_KIOSK_TOKEN = re.compile(r"(?<![A-Za-z0-9])kt_(?:(?P<prefix>[0-9a-f]{8})_)?(?P<secret>[A-Za-z0-9_-]{8,})")
_SECRET_QUERY_VALUE = re.compile(
    r"(?P<key>[?&;][^=&#\s]*?(?:token|secret|password|api_?key|signature|client_?state|code)[^=&#\s]*=)"
    r"(?P<value>[^&#\s\"]+)",
    re.IGNORECASE,
)


@contextlib.contextmanager
def log_context(*, tenant: str | None = None, task_id: str | None = None) -> Iterator[None]:
    """Tag every log line inside the block (e.g. a service working for one tenant)."""
    tokens = []
    if tenant is not None:
        tokens.append((tenant_var, tenant_var.set(tenant)))
    if task_id is not None:
        tokens.append((task_id_var, task_id_var.set(task_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.task_id = task_id_var.get()
        return True


def redact(text: str) -> str:
    for value in _configured_secrets():
        text = text.replace(value, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group("key") + REDACTED, text)
    return redact_url(text)


def redact_url(text: str) -> str:
    """Mask what must not be logged of a URL, a request line or a header: needs no settings (gunicorn's logger)."""
    text = _SECRET_QUERY_VALUE.sub(lambda m: m.group("key") + REDACTED, text)
    return _KIOSK_TOKEN.sub(lambda m: f"kt_{m.group('prefix')}_{REDACTED}" if m.group("prefix") else f"kt_{REDACTED}",
                            text)


def _configured_secrets() -> list[str]:
    names = ("SECRET_KEY", "MICROSOFT_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET", "WEBEX_CLIENT_SECRET", "SPACES_API_KEY")
    values = [getattr(settings, name, None) for name in names]
    values.extend(getattr(settings, "FIELD_ENCRYPTION_KEYS", []))
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return True


class RequestContextMiddleware:
    """Gives each request an id (the caller's X-Request-ID when it looks sane) and echoes it back."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            tenant_var.reset(tenant_token)
        response["X-Request-ID"] = request_id
        return response
