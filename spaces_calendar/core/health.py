"""Health checks behind /healthz. Other packages register theirs (the firehose adds one)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from spaces_calendar.core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@dataclass
class CheckResult:
    ok: bool
    detail: dict = field(default_factory=dict)


Check = Callable[[], CheckResult]
_checks: dict[str, Check] = {}


def register(name: str) -> Callable[[Check], Check]:
    def decorator(check: Check) -> Check:
        _checks[name] = check
        return check

    return decorator


def run_checks() -> tuple[bool, dict[str, dict]]:
    results = {}
    for name, check in _checks.items():
        try:
            result = check()
        except Exception as exc:  # a failing check is a finding, not a crash of the health endpoint
            logger.warning("health check %s failed: %s", name, exc)
            result = CheckResult(False, {"error": type(exc).__name__})
        results[name] = {"ok": result.ok, **result.detail}
    return all(r["ok"] for r in results.values()), results


@register("database")
def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult(True, {"vendor": connection.vendor})


@register("broker")
def check_broker() -> CheckResult:
    from spaces_calendar.celery import app

    timeout = settings.HEALTH_BROKER_TIMEOUT
    with app.connection_for_write(connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        # Opening a channel talks to the broker for real (the SQLite transport only opens its file here).
        conn.default_channel  # noqa: B018
        transport = conn.transport_cls
    return CheckResult(True, {"transport": transport})


@register("worker")
def check_worker() -> CheckResult:
    max_age = timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE)
    latest = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True).first()
    if latest is None:
        return CheckResult(False, {"error": "no worker has reported a heartbeat"})
    age = (timezone.now() - latest).total_seconds()
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=timezone.now() - max_age).count()
    return CheckResult(age <= max_age.total_seconds(), {"last_heartbeat_age_s": round(age, 1), "alive": alive})
