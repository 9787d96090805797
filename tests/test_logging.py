import io
import json
import logging

import pytest
from celery import signals
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory

from spaces_calendar.core.logging import ContextFilter, RedactSecretsFilter, RequestContextMiddleware, log_context
from spaces_calendar.core.tenancy import TenantMiddleware
from tests.factories import make_user

logger = logging.getLogger("spaces_calendar.test")


@pytest.fixture
def lines():
    """Log lines as the production handler writes them (same filters, same JSON formatter)."""
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    formatter_config.pop("()")
    handler.setFormatter(JsonFormatter(**formatter_config))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_request_line_carries_the_request_id_and_tenant(lines, two_tenants):
    user = make_user(two_tenants["acme"])
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="req-12345678")
    request.user, request.session = user, {}

    def view(request):
        logger.info("handling")
        return HttpResponse()

    response = RequestContextMiddleware(TenantMiddleware(view))(request)

    (line,) = lines()
    assert line["message"] == "handling"
    assert line["request_id"] == "req-12345678"
    assert line["tenant"] == two_tenants["acme"].slug
    assert response["X-Request-ID"] == "req-12345678"


def test_an_unsafe_request_id_is_replaced(lines):
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="evil\nINFO forged line")

    response = RequestContextMiddleware(lambda r: HttpResponse())(request)

    assert "\n" not in response["X-Request-ID"] and len(response["X-Request-ID"]) == 32


def test_a_task_line_carries_the_task_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter("%(task_id)s %(tenant)s %(message)s"))
    logger.addHandler(handler)
    try:
        signals.task_prerun.send(sender=None, task_id="task-abc")
        with log_context(tenant="acme"):
            logger.warning("syncing")
        signals.task_postrun.send(sender=None, task_id="task-abc")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)

    assert stream.getvalue().splitlines() == ["task-abc acme syncing", "None None after"]


@pytest.mark.parametrize(
    "leak",
    [
        'token endpoint said {"access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOi", "expires_in": 3599}',
        "POST body refresh_token=1//0gAbCdEf&client_secret=shhh-very-secret",
        "headers: Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi",
        "x-api-key: 9F1B2C3D4E5F",
    ],
)
def test_secrets_are_redacted(lines, leak):
    logger.info("provider error: %s", leak)

    message = lines()[0]["message"]
    for secret in ("eyJ0eXAiOiJKV1QiLCJhbGciOi", "1//0gAbCdEf", "shhh-very-secret", "9F1B2C3D4E5F"):
        assert secret not in message
    assert "[redacted]" in message


def test_configured_secrets_are_redacted_even_in_tracebacks(lines, settings):
    settings.MICROSOFT_CLIENT_SECRET = "Qx8Q~client-secret-value"
    try:
        raise RuntimeError("login failed for Qx8Q~client-secret-value")
    except RuntimeError:
        logger.exception("boom")

    line = lines()[0]
    assert "Qx8Q~client-secret-value" not in json.dumps(line)
    assert "login failed for [redacted]" in line["exc_info"]
