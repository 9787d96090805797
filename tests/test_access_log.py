"""No kiosk token (or other secret in a URL) reaches gunicorn's access log: gunicorn runs here exactly as
``manage.py up`` starts it, is asked for the kiosk page with a token in the old address and in a query string, and
for the status API with a bearer token, and its log is read back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from occupancy.kiosk import tokens
from spaces_calendar.core.logging import redact_url
from spaces_calendar.core.management.commands.up import process_set
from tests import worker
from tests.factories import make_room, make_tenant
from tests.worker import wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, headers: dict[str, str] | None = None) -> int:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # not listening (yet)
        return 0


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn as ``up`` runs it, on the test database; yields (base URL, a function returning its output)."""
    port = free_port()
    log_path = tmp_path / "web.log"
    env = {**os.environ, "TEST_DATABASE_URL": worker.test_database_url(), "TEST_BROKER_URL": settings.CELERY_BROKER_URL,
           "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(process_set(port, 1, 1)["web"], cwd=ROOT, env=env, stdout=log,  # noqa: S603
                                   stderr=subprocess.STDOUT)
    output = log_path.read_text
    try:
        assert wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz") in (200, 503) or process.poll() is not None,
                        timeout=60), output()
        assert process.poll() is None, output()
        yield f"http://127.0.0.1:{port}", output
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_no_kiosk_token_reaches_the_access_log_of_a_real_gunicorn(gunicorn):
    base, output = gunicorn
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord")
    _token, raw = tokens.issue_token(acme, "Fjord panel", rooms=[fjord])
    prefix, secret = raw.split("_", 2)[1:]

    assert get(f"{base}/kiosk/{raw}/?room={fjord.pk}") == 302  # a screen set up with the old address
    assert get(f"{base}/kiosk/?token={raw}") == 200  # a token where it does not belong
    assert get(f"{base}/kiosk/kt_{prefix}_not-the-secret/") == 302  # a wrong one, as an attacker would try
    assert get(f"{base}/api/v1/rooms/{fjord.pk}/status", {"Authorization": f"Bearer {raw}"}) == 200

    assert wait_for(lambda: output().count('"GET /') >= 4, timeout=10), output()
    assert secret not in output() and "not-the-secret" not in output()
    # The lines are still there, with what identifies the kiosk (the prefix is not secret).
    assert f'"GET /kiosk/kt_{prefix}_[redacted]/?room={fjord.pk} HTTP/1.1" 302' in output()
    assert '"GET /kiosk/?token=[redacted] HTTP/1.1" 200' in output()


@pytest.mark.parametrize(("logged", "expected"), [
    ("GET /kiosk/kt_0a1b2c3d_Zm9vYmFyLWJhei1xdXV4_-x/ HTTP/1.1", "GET /kiosk/kt_0a1b2c3d_[redacted]/ HTTP/1.1"),
    ("/kiosk/kt_0a1b2c3dZm9vYmFy/", "/kiosk/kt_[redacted]/"),  # malformed, maybe a real one mistyped
    ("/x?room=3&token=abc&poll=1", "/x?room=3&token=[redacted]&poll=1"),
    ("/cb?code=s3cr3t&state=xyz&admin_consent=True", "/cb?code=[redacted]&state=xyz&admin_consent=True"),
    ("/hook?validationToken=Validation%3A+Testing", "/hook?validationToken=[redacted]"),
    ("/x?apiKey=k&client_secret=s", "/x?apiKey=[redacted]&client_secret=[redacted]"),
    ("Bearer kt_0a1b2c3d_Zm9vYmFyLWJh", "Bearer kt_0a1b2c3d_[redacted]"),
    ("/reports/ghost-bookings/?from=2026-01-01&room=4", "/reports/ghost-bookings/?from=2026-01-01&room=4"),
    ("/static/kt_style.css", "/static/kt_style.css"),  # too short to be a token
])
def test_secrets_in_a_logged_url_are_masked(logged, expected):
    assert redact_url(logged) == expected


def test_up_serves_the_web_with_the_redacting_logger():
    web = process_set(8000, 2, 2)["web"]
    assert web[web.index("--config") + 1] == "python:spaces_calendar.gunicorn_config"
    from spaces_calendar import gunicorn_config

    assert gunicorn_config.logger_class == "spaces_calendar.core.access_log.RedactingLogger"
