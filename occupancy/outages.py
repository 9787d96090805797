"""Our own streams going down: what they lost is unknown, never empty.

A source that reports on change is believed until it says otherwise only while we are listening. When a stream
(a Firehose connection) is down, or silent without even a keep-alive, and reconnecting did not bring back what it
carried (the Firehose replays about an hour), every room of the tenant is unknown for the sources that stream
delivers, over the lost stretch. The receiver opens an outage when it loses the stream and closes it when it is
back, shortened to what replay did not recover.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from .models import SourceOutage

logger = logging.getLogger(__name__)

#: The sources a Firehose stream delivers (Webex webhooks, when they come, are a stream of their own).
FIREHOSE_SOURCES = frozenset({"webex", "webex_people", "spaces_camera", "spaces_occupancy", "spaces_iot",
                              "spaces_wifi"})


def record_outage(tenant_id: int, start: datetime, end: datetime | None, *, stream: str,
                  reason: str = "") -> SourceOutage | None:
    """Record that ``stream`` lost [start, end) for the tenant (``end`` None: still down). Returns the row, or None
    for an empty stretch. Rooms touched get their outcomes recomputed by the caller or the next refresh."""
    if end is not None and end <= start:
        return None
    outage = SourceOutage.objects.create(tenant_id=tenant_id, stream=stream[:100], start=start, end=end,
                                         reason=reason[:200])
    logger.warning("occupancy: stream %s lost %s to %s for tenant %s%s", stream, start.isoformat(),
                   end.isoformat() if end else "now", tenant_id, f" ({reason})" if reason else "")
    return outage


def open_outage(tenant_id: int, stream: str, start: datetime, reason: str = "") -> None:
    """The stream went down at ``start`` (kept open until ``close_outage``); one open outage per stream."""
    if SourceOutage.objects.filter(tenant_id=tenant_id, stream=stream[:100], end__isnull=True).exists():
        return
    record_outage(tenant_id, start, None, stream=stream, reason=reason)


def close_outage(tenant_id: int, stream: str, recovered_from: datetime, now: datetime | None = None
                 ) -> list[tuple[datetime, datetime]]:
    """The stream is back and replay brought back everything from ``recovered_from`` on: open outages end there,
    and those that replay covered entirely are dropped. Returns the stretches that stay lost."""
    now = now or timezone.now()
    lost = []
    for outage in SourceOutage.objects.filter(tenant_id=tenant_id, stream=stream[:100], end__isnull=True):
        # Replay covered it all: kept as an empty stretch (so the refresh sees that it changed and fuses the rooms
        # again: while it was open they were unknown), and ignored from then on.
        outage.end = max(outage.start, min(recovered_from, now))
        outage.save(update_fields=["end", "recorded_at"])
        if outage.end > outage.start:
            lost.append((outage.start, outage.end))
    return lost


def outages_for(tenant_ids: Iterable[int], start: datetime, end: datetime,
                now: datetime | None = None) -> dict[int, list[tuple[datetime, datetime]]]:
    """Each tenant's lost stretches overlapping [start, end), an open one running to ``now``, merged."""
    now = now or timezone.now()
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    rows = SourceOutage.objects.filter(tenant_id__in=set(tenant_ids), start__lt=end).filter(
        Q(end__isnull=True) | Q(end__gt=start) & Q(end__gt=F("start"))).values_list("tenant_id", "start", "end")
    for tenant_id, low, high in rows:
        spans[tenant_id].append((low, high or max(now, low + timedelta(seconds=1))))
    return {tenant_id: _merged(items) for tenant_id, items in spans.items()}


def _merged(items: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for low, high in sorted(items):
        if out and low <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def changed_since(after: datetime | None) -> list[tuple[int, datetime, datetime | None, datetime]]:
    """Outages recorded or changed after ``after``: (tenant, start, end, recorded_at), oldest change first."""
    rows = SourceOutage.objects.all() if after is None else SourceOutage.objects.filter(recorded_at__gt=after)
    return list(rows.order_by("recorded_at").values_list("tenant_id", "start", "end", "recorded_at"))
