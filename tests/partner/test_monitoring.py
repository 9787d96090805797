"""Health URLs for Cisco Spaces and the monitoring status report PUT to the (fake) partner API."""

import logging

import pytest

from spaces_calendar.core import health
from spaces_calendar.core.health import CheckResult
from spaces_calendar.partner import monitoring
from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.fake import MONITORING_ROUTE
from spaces_calendar.partner.tasks import report_monitoring_status

pytestmark = pytest.mark.django_db


def database_ok() -> CheckResult:
    return health.check_database()


def broker_down() -> CheckResult:
    raise ConnectionRefusedError("broker")


def worker_missing() -> CheckResult:
    return CheckResult(False, {"error": "no worker has reported a heartbeat"})


def firehose(connected: bool, last_event_at: str | None = None):
    def check() -> CheckResult:
        return CheckResult(connected, {"connected": connected, "last_event_at": last_event_at})

    return check


# -- health URLs ---------------------------------------------------------------------------------------------


def test_app_health_is_200_when_every_check_passes(client, only_checks):
    only_checks({"database": database_ok, "firehose": firehose(True)})

    response = client.get("/partner/health/app")

    assert response.status_code == 200
    assert response.json() == {"status": "up", "checks": {"database": True, "firehose": True}}
    assert "no-cache" in response["Cache-Control"]


def test_app_health_is_503_when_a_check_fails(client, only_checks):
    only_checks({"database": database_ok, "broker": broker_down})

    response = client.get("/partner/health/app")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": {"database": True, "broker": False}}


def test_api_health_is_200_with_a_key_and_a_connected_firehose(client, only_checks, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    only_checks({"database": database_ok, "broker": broker_down, "firehose": firehose(True)})

    response = client.get("/partner/health/api")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "credentials": True, "firehose": "connected"}


def test_api_health_is_503_without_any_key(client, only_checks, settings):
    settings.SPACES_API_KEY = None
    only_checks({"database": database_ok})

    response = client.get("/partner/health/api")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "credentials": False, "firehose": "unknown"}


def test_api_health_is_503_when_the_firehose_is_disconnected(client, only_checks, settings):
    settings.SPACES_API_KEY = "operator-key-1234"
    only_checks({"database": database_ok, "firehose": firehose(False)})

    response = client.get("/partner/health/api")

    assert response.status_code == 503
    assert response.json()["checks"]["firehose"] == "disconnected"
    assert "operator-key-1234" not in response.text


def test_health_urls_answer_only_get(client):
    assert client.post("/partner/health/app").status_code == 405
    assert client.post("/partner/health/api").status_code == 405


# -- the status document ---------------------------------------------------------------------------------------


def test_the_status_document_has_cisco_s_shape():
    results = {
        "database": {"ok": True, "vendor": "sqlite"},
        "worker": {"ok": False, "error": "no worker has reported a heartbeat"},
        "firehose": {"ok": True, "connected": True, "last_event_at": "2024-05-02T09:00:00+00:00"},
    }

    data = monitoring.status_document(results)["data"]

    assert data["overallStatus"] == {
        "status": "down",
        "notices": [{"message": "Worker is down: no worker has reported a heartbeat", "category": "critical"}],
    }
    assert data["cloudFirehose"] == {"status": "connected", "lastReceived": 1714640400000}
    assert data["subsystems"] == [{"name": "Database", "status": "up"}, {"name": "Worker", "status": "down"}]
    assert set(data["instanceDetails"]) == {"ipAddress", "instanceId"}


def test_without_a_firehose_check_the_firehose_is_reported_disconnected():
    data = monitoring.status_document({"database": {"ok": True}})["data"]

    assert data["cloudFirehose"] == {"status": "disconnected"}
    assert data["overallStatus"]["status"] == "down"
    assert data["overallStatus"]["notices"] == [
        {"message": "The Cisco Spaces firehose is not running", "category": "warning"}
    ]


# -- the report -------------------------------------------------------------------------------------------------


def test_the_task_puts_the_status_with_the_activation_key(only_checks, fake_spaces, acme):
    activation = activate(acme["tenant"], fake_spaces.issue_activation_token())
    only_checks({"database": database_ok, "firehose": firehose(True, "2024-05-02T09:00:00Z")})

    assert report_monitoring_status() == "sent"

    [report] = fake_spaces.monitoring_reports
    assert report.api_key == activation.api_key
    data = report.document["data"]
    assert data["overallStatus"]["status"] == "up"
    assert data["cloudFirehose"] == {"status": "connected", "lastReceived": 1714640400000}
    assert data["subsystems"] == [{"name": "Database", "status": "up"}]
    [put] = fake_spaces.server.requests_to(MONITORING_ROUTE, "PUT")
    assert put.headers["Content-Type"] == "application/json"


def test_with_the_operators_key_the_report_goes_to_spaces_firehose_url(only_checks, fake_spaces, settings):
    settings.SPACES_API_KEY = fake_spaces.issue_api_key()
    only_checks({"database": database_ok})

    assert monitoring.report_status() == "sent"

    [report] = fake_spaces.monitoring_reports
    assert report.api_key == settings.SPACES_API_KEY
    assert report.document["data"]["cloudFirehose"] == {"status": "disconnected"}


def test_a_refused_report_is_logged_not_raised(only_checks, fake_spaces, settings, caplog):
    settings.SPACES_API_KEY = "a-key-cisco-does-not-know"
    only_checks({"database": database_ok})

    with caplog.at_level(logging.WARNING, logger="spaces_calendar.partner"):
        assert monitoring.report_status() == "refused"

    assert fake_spaces.monitoring_reports == []
    assert "refused the monitoring report (HTTP 401)" in caplog.text
    assert "a-key-cisco-does-not-know" not in caplog.text


def test_an_unreachable_partner_api_is_logged_not_raised(only_checks, settings, caplog):
    settings.SPACES_API_KEY = "operator-key-1234"
    settings.SPACES_FIREHOSE_URL = "https://127.0.0.1:9"
    settings.OUTBOUND_MAX_RETRIES = 0
    only_checks({"database": database_ok})

    with caplog.at_level(logging.WARNING, logger="spaces_calendar.partner"):
        assert monitoring.report_status() == "failed"

    assert "monitoring report failed" in caplog.text


def test_no_report_is_sent_without_a_key(settings):
    settings.SPACES_API_KEY = None

    assert monitoring.report_status() == "skipped"


def test_the_report_runs_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["report-partner-monitoring"]

    assert entry == {"task": "partner.report_monitoring_status", "schedule": 300.0}
