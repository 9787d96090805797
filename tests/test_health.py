import os
from datetime import timedelta

import pytest
from django.utils import timezone

from spaces_calendar.celery import app as celery_app
from spaces_calendar.core.heartbeat import record_heartbeat
from spaces_calendar.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_url():
    """Point the Celery app at another broker for one test, then restore it."""
    original = celery_app.conf.broker_url

    def use(url: str) -> None:
        celery_app.conf.broker_url = url

    yield use
    celery_app.conf.broker_url = original


def test_it_is_healthy_with_a_database_a_broker_and_a_live_worker(client):
    record_heartbeat("celery@test")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["checks"]["worker"]["alive"] == 1


def test_a_broker_outage_is_a_503(client, broker_url, settings):
    record_heartbeat("celery@test")
    settings.HEALTH_BROKER_TIMEOUT = 0.5
    broker_url("redis://127.0.0.1:1/0")  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_a_worker_that_stopped_beating_is_a_503(client, settings):
    settings.WORKER_HEARTBEAT_MAX_AGE = 60
    WorkerHeartbeat.objects.create(hostname="celery@gone", pid=1, last_seen=timezone.now() - timedelta(minutes=5))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False
    assert response.json()["checks"]["worker"]["last_heartbeat_age_s"] >= 300


def test_no_worker_ever_seen_is_a_503(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert "no worker" in response.json()["checks"]["worker"]["error"]


def test_healthz_is_never_cached(client):
    assert "no-store" in client.get("/healthz")["Cache-Control"]


def test_the_suite_runs_on_the_database_and_broker_ci_asked_for(client):
    record_heartbeat("celery@test")
    checks = client.get("/healthz").json()["checks"]

    expected_vendor = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    expected_transport = "redis" if os.environ.get("TEST_BROKER_URL", "").startswith("redis") else "sqla"
    assert (checks["database"]["vendor"], checks["broker"]["transport"]) == (expected_vendor, expected_transport)


def test_the_kiosk_change_feed_is_reported_and_never_fails_the_check(client):
    record_heartbeat("celery@test")
    check = client.get("/healthz").json()["checks"]["kiosk_change_feed"]
    assert check == {"ok": True, "state": "off"}  # the suite runs without it (see tests/kiosk/test_change_feed.py)
