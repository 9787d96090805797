"""The Firehose in /healthz: connected, and how old the last event is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from firehose.models import ReceiverStatus
from spaces_calendar.core.health import run_checks

pytestmark = pytest.mark.django_db


def firehose_check() -> dict:
    return run_checks()[1]["firehose"]


def test_without_any_spaces_credentials_the_firehose_is_not_a_failure(settings):
    settings.SPACES_API_KEY = None
    assert firehose_check() == {"ok": True, "connected": False, "last_event_at": None, "configured": False}


def test_a_connected_receiver_with_recent_lines_is_healthy(settings):
    settings.SPACES_API_KEY = "key"
    now = timezone.now()
    ReceiverStatus.objects.create(stream="env", min_partition=1, max_partition=12, connected=True,
                                  last_line_at=now, last_event_at=now - timedelta(seconds=30))
    check = firehose_check()
    assert check["ok"] and check["connected"] and 29 <= check["last_event_age_s"] <= 31


@pytest.mark.parametrize("status", [
    {"connected": False},  # the receiver lost the stream
    {"connected": True, "silent_for": 600},  # connected on paper, but nothing (not even KEEP_ALIVE) for 10 min
    None,  # no receiver is running at all
])
def test_a_missing_disconnected_or_silent_receiver_is_unhealthy(settings, status):
    settings.SPACES_API_KEY = "key"
    if status is not None:
        silent = timedelta(seconds=status.get("silent_for", 0))
        ReceiverStatus.objects.create(stream="env", min_partition=1, max_partition=12,
                                      connected=status["connected"], last_line_at=timezone.now() - silent)
    check = firehose_check()
    assert not check["ok"] and not check["connected"]


def test_healthz_reports_the_firehose(client, settings):
    settings.SPACES_API_KEY = "key"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["firehose"]["connected"] is False
