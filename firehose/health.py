"""The Firehose in /healthz (and so in the partner monitoring report): connected, and how old the last event is."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from spaces_calendar.core.health import CheckResult, register

from .credentials import all_streams
from .models import ReceiverStatus


@register("firehose")
def check_firehose() -> CheckResult:
    streams = {stream.stream for stream in all_streams()}
    if not streams:
        return CheckResult(True, {"connected": False, "last_event_at": None, "configured": False})
    rows = list(ReceiverStatus.objects.filter(stream__in=streams))
    fresh_after = timezone.now() - timedelta(seconds=2 * settings.FIREHOSE_SILENCE_TIMEOUT_S)
    alive = [row for row in rows if row.connected and row.last_line_at and row.last_line_at >= fresh_after]
    last_event = max((row.last_event_at for row in rows if row.last_event_at), default=None)
    age = round((timezone.now() - last_event).total_seconds(), 1) if last_event else None
    covered = {row.stream for row in alive}
    return CheckResult(covered == streams, {
        "connected": bool(alive) and covered == streams,
        "last_event_at": last_event.isoformat() if last_event else None,
        "last_event_age_s": age,
        "streams": len(streams),
        "receivers_connected": len(alive),
    })
