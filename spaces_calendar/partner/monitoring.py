"""Our health as Cisco Spaces wants to see it: two health URLs, and a status report we PUT to Cisco.

Cisco's "Monitor Partner App Health" (https://partners.dnaspaces.io/docs/v1/basic/c-dnas-monitor-partner-app-health.html):

* A cloud partner app registers an **App Health Check URL** (200 OK when all components of the app are healthy)
  and an **API Health Status URL** (200 OK when customer data is being received through the Firehose API). The
  paths are ours to choose; they are ``/partner/health/app`` and ``/partner/health/api``.
* An on-prem app ``PUT``\\ s its status to ``{host}/api/partners/v1/monitoring/status`` with ``x-api-key`` and
  ``{"data": {"overallStatus": {"status": "up|down", "notices": [{"message", "category":
  "critical|warning|info"}]}, "instanceDetails": {"ipAddress", "instanceId"}, "cloudFirehose": {"status":
  "connected|disconnected", "lastReceived": <epoch ms>}, "localFirehose": {...}, "subsystems": [{"name",
  "status": "up|down"}]}}``. Cisco records it only for apps that are Live, Approved or Under Review.

Our choices:

* App health = every check registered in :mod:`spaces_calendar.core.health` passes (database, broker, worker, and
  the firehose's own check once the firehose registers it).
* API health = the database works, an API key is configured (an active activation or ``SPACES_API_KEY``), and the
  firehose check, if registered, says ``connected``. Without that check this process cannot know the stream's
  state, and the URL does not fail on what it cannot know.
* The report goes to the base URL of :func:`firehose_credentials` (the activation's partner host, or
  ``SPACES_FIREHOSE_URL`` with the environment key). Overall status is ``up`` only when every subsystem is up and
  the firehose is connected (no registered firehose check counts as disconnected). We read Cisco's cloud firehose,
  never a local one (Spaces connector), so ``localFirehose`` is left out; ``instanceId`` is the host name and
  ``ipAddress`` stays empty (the address Cisco sees is not ours to know); ``lastReceived`` is left out until an
  event has arrived.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from spaces_calendar.core import health
from spaces_calendar.core.http import AuthError, OutboundError, build_session, send

from .credentials import firehose_credentials

logger = logging.getLogger(__name__)

MONITORING_PATH = "/api/partners/v1/monitoring/status"
FIREHOSE_CHECK = "firehose"


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    checks: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "up" if self.ok else "down", "checks": self.checks}


def app_health() -> HealthReport:
    ok, results = health.run_checks()
    return HealthReport(ok, {name: result["ok"] for name, result in results.items()})


def api_health() -> HealthReport:
    _, results = health.run_checks()
    database_ok = bool(results.get("database", {}).get("ok"))
    # Without a database the activations cannot be read; the environment key needs none.
    has_key = bool(settings.SPACES_API_KEY) or (database_ok and firehose_credentials() is not None)
    firehose = results.get(FIREHOSE_CHECK)
    stream = "unknown" if firehose is None else "connected" if _connected(firehose) else "disconnected"
    ok = database_ok and has_key and stream != "disconnected"
    return HealthReport(ok, {"database": database_ok, "credentials": has_key, "firehose": stream})


def status_document(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cisco's monitoring status document built from :func:`health.run_checks` results."""
    firehose = results.get(FIREHOSE_CHECK)
    connected = firehose is not None and _connected(firehose)
    subsystems = [
        {"name": _title(name), "status": "up" if result["ok"] else "down"}
        for name, result in results.items()
        if name != FIREHOSE_CHECK
    ]
    notices = [
        {"message": f"{_title(name)} is down" + (f": {result['error']}" if result.get("error") else ""),
         "category": "critical"}
        for name, result in results.items()
        if name != FIREHOSE_CHECK and not result["ok"]
    ]
    if not connected:
        why = "is not running" if firehose is None else "is disconnected"
        notices.append({"message": f"The Cisco Spaces firehose {why}", "category": "warning"})
    cloud_firehose: dict[str, Any] = {"status": "connected" if connected else "disconnected"}
    last_received = _epoch_ms(firehose.get("last_event_at")) if firehose else None
    if last_received is not None:
        cloud_firehose["lastReceived"] = last_received
    up = connected and all(subsystem["status"] == "up" for subsystem in subsystems)
    return {
        "data": {
            "overallStatus": {"status": "up" if up else "down", "notices": notices},
            "instanceDetails": {"ipAddress": "", "instanceId": socket.gethostname()},
            "cloudFirehose": cloud_firehose,
            "subsystems": subsystems,
        }
    }


def report_status() -> str:
    """PUT our status to Cisco; returns ``sent``, ``skipped`` (no key), ``refused`` (401/403) or ``failed``.

    Never raises: a missed report is retried by the next beat anyway.
    """
    credentials = firehose_credentials()
    if credentials is None:
        logger.info("Cisco Spaces monitoring report skipped: no activation and no SPACES_API_KEY")
        return "skipped"
    _, results = health.run_checks()
    try:
        send(
            build_session(),
            "PUT",
            credentials.base_url + MONITORING_PATH,
            json=status_document(results),
            headers={"x-api-key": credentials.api_key},
        )
    except AuthError as error:
        # Not a reason to mark the key broken: Cisco also refuses reports from apps not yet Live/Approved/Under
        # Review. The firehose consumer, whose 401 is unambiguous, does that.
        logger.warning("Cisco Spaces refused the monitoring report (HTTP %s) from %s", error.status, error.url)
        return "refused"
    except OutboundError as error:
        logger.warning("Cisco Spaces monitoring report failed: %s", error)
        return "failed"
    return "sent"


def _connected(check: dict[str, Any]) -> bool:
    return bool(check.get("ok")) and bool(check.get("connected"))


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _epoch_ms(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
