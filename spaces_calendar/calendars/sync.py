"""The provider-neutral sync engine: which links are due, claiming them, fetching and applying their events.

A link is due when ``next_sync_at`` has passed: once a day (just after local midnight, spread over an hour) and
a few seconds after a change notification. Claiming is a conditional UPDATE with a random token, so duplicate
beat ticks, redelivered tasks and parallel workers never sync one room twice at once; a claim is a lease, so a
worker killed mid-sync only delays the room until the lease runs out, and the next run converges because
applying events is idempotent.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from spaces_calendar.core.http import OutboundError, Throttled
from spaces_calendar.core.logging import log_context
from spaces_calendar.providers.errors import ConsentRevoked

from .bookings import ApplyCounts, LinkChanges, apply_many
from .connections import mark_needs_consent
from .models import Booking, CalendarConnection, CalendarLink, ConnectionStatus
from .remote import FetchRequest, FetchResult, provider_for

logger = logging.getLogger(__name__)

#: Links per sync task: a few Graph $batch requests (20 each) sent side by side, then one transaction.
CHUNK = 80
MAX_BACKOFF_S = 3600.0


@dataclass
class SyncReport:
    synced: int = 0
    failed: int = 0
    skipped: int = 0
    counts: ApplyCounts = field(default_factory=ApplyCounts)


def sync_window(time_zone: str, now: datetime, *, days_back: int = 0) -> tuple[datetime, datetime]:
    """Local midnight ``days_back`` days before today (0: today) to local midnight after
    ``CALENDAR_SYNC_DAYS_AHEAD`` more days, as aware UTC.

    The window only moves when the local date does, so syncs within one day can stay incremental.
    """
    zone = _zone(time_zone)
    today = now.astimezone(zone).date()
    start = datetime.combine(today - timedelta(days=days_back), time(0), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1 + settings.CALENDAR_SYNC_DAYS_AHEAD), time(0), tzinfo=zone)
    return start.astimezone(zoneinfo.ZoneInfo("UTC")), end.astimezone(zoneinfo.ZoneInfo("UTC"))


def next_daily_sync(time_zone: str, room_id: int, now: datetime) -> datetime:
    """Next local midnight plus a fixed per-room offset under an hour, so a tenant's rooms do not all call the
    provider in the same second."""
    zone = _zone(time_zone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    offset = int(hashlib.sha256(str(room_id).encode()).hexdigest()[:8], 16) % 3600
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(zoneinfo.ZoneInfo("UTC")) + timedelta(
        seconds=offset
    )


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --------------------------------------------------------------------------------------------------------
# Scheduling and claiming
# --------------------------------------------------------------------------------------------------------


def due_links(now: datetime) -> Q:
    return (
        Q(connection__status=ConnectionStatus.ACTIVE)
        & (Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )


def claim_due(now: datetime | None = None, limit: int = 5000) -> list[tuple[str, list[int]]]:
    """Claim every due link (up to ``limit``) and return them as (claim token, link ids) chunks, each chunk of
    one connection and at most :data:`CHUNK` links."""
    now = now or timezone.now()
    candidates = list(CalendarLink.objects.filter(due_links(now)).order_by("next_sync_at")
                      .values_list("pk", flat=True)[:limit])
    if not candidates:
        return []
    token = secrets.token_hex(16)
    lease = now + timedelta(seconds=settings.CALENDAR_SYNC_LEASE_S)
    # The WHERE is evaluated again per row inside the UPDATE, so a link claimed meanwhile is not taken twice.
    CalendarLink.objects.filter(due_links(now), pk__in=candidates).update(claimed_until=lease, claim_token=token)
    by_connection: dict[int, list[int]] = defaultdict(list)
    for pk, connection_id in CalendarLink.objects.filter(claim_token=token).values_list("pk", "connection_id"):
        by_connection[connection_id].append(pk)
    chunks = []
    for ids in by_connection.values():
        ids.sort()
        for offset in range(0, len(ids), CHUNK):
            sub_token = secrets.token_hex(16)
            CalendarLink.objects.filter(pk__in=ids[offset:offset + CHUNK], claim_token=token).update(
                claim_token=sub_token)
            chunks.append((sub_token, ids[offset:offset + CHUNK]))
    return chunks


def request_sync(link_ids: list[int], *, delay_s: float | None = None, full: bool = False) -> int:
    """A hint that these links changed at the provider: make them due in ``delay_s`` (notifications arriving
    within that time become one sync) unless they are due sooner. ``full`` drops the incremental state."""
    delay = settings.CALENDAR_NOTIFICATION_DEBOUNCE_S if delay_s is None else delay_s
    target = timezone.now() + timedelta(seconds=delay)
    updates: dict[str, object] = {
        "change_seq": F("change_seq") + 1,
        "next_sync_at": Case(When(next_sync_at__lte=target, then=F("next_sync_at")), default=Value(target)),
    }
    if full:
        updates["sync_state"] = ""
    return CalendarLink.objects.filter(pk__in=link_ids).update(**updates)


# --------------------------------------------------------------------------------------------------------
# Syncing a claimed chunk
# --------------------------------------------------------------------------------------------------------


def sync_claimed(token: str, link_ids: list[int]) -> SyncReport:
    """Sync the links still held under ``token`` (a redelivered task whose claim was lost does nothing)."""
    report = SyncReport()
    links = list(CalendarLink.objects.filter(pk__in=link_ids, claim_token=token)
                 .select_related("connection", "room__floor__building"))
    report.skipped = len(link_ids) - len(links)
    if not links:
        return report
    connection = links[0].connection
    with log_context(tenant=str(connection.tenant_id)):
        if connection.status != ConnectionStatus.ACTIVE:
            _release(links, token)
            report.skipped += len(links)
            return report
        _sync_links(connection, links, token, report)
    return report


def is_first_sync(link: CalendarLink) -> bool:
    """Never synced in full and holding no incremental state: a new link (or one whose first sync failed)."""
    return not link.sync_state and link.last_full_sync_at is None


def _sync_links(connection: CalendarConnection, links: list[CalendarLink], token: str, report: SyncReport) -> None:
    provider = provider_for(connection.provider)
    now = timezone.now()
    # ``windows``: the window incremental syncs continue in, stored on the link and compared at the next sync.
    # ``fetched``: what this sync asks for. A link's first sync reaches back CALENDAR_SYNC_DAYS_BACK local days:
    # otherwise a room linked at 00:30 would never hold the bookings of the evening before, nor any earlier ones,
    # and reports would start at the link. Its delta link then spans those days too, so the same day's
    # incremental syncs may bring changes to them, applied like any other; the next local day starts afresh.
    windows = {link.pk: sync_window(str(link.room.zone), now) for link in links}
    fetched = {
        link.pk: sync_window(str(link.room.zone), now, days_back=settings.CALENDAR_SYNC_DAYS_BACK)
        if is_first_sync(link) else windows[link.pk]
        for link in links
    }
    requests = [
        FetchRequest(
            link_id=link.pk,
            calendar_id=link.external_calendar_id,
            window_start=fetched[link.pk][0],
            window_end=fetched[link.pk][1],
            # A new local day means a new window: start a fresh round rather than continue yesterday's.
            sync_state=link.sync_state if (link.sync_window_start, link.sync_window_end) == windows[link.pk] else "",
        )
        for link in links
    ]
    try:
        results = {result.link_id: result for result in provider.fetch(connection, requests)}
    except ConsentRevoked as error:
        mark_needs_consent(connection, error.reason, error.description)
        _release(links, token)
        return
    except Throttled as error:
        logger.warning("sync of %d link(s) throttled; again in %.1f s", len(links), error.retry_after)
        _release(links, token, retry_in=error.retry_after)
        report.failed += len(links)
        return
    except OutboundError as error:
        logger.warning("sync of %d link(s) failed: %s", len(links), error)
        for link in links:
            _fail(link, token, error)
        report.failed += len(links)
        connection_error(connection, str(error))
        return

    all_refused = all(results.get(link.pk) and results[link.pk].auth_failed for link in links)
    if all_refused and _access_gone(connection, provider, links):
        return
    succeeded: list[tuple[CalendarLink, FetchResult]] = []
    for link in links:
        result = results.get(link.pk) or FetchResult(link.pk, error=RuntimeError("no answer for this link"))
        if result.error is not None:
            _fail(link, token, result.error)
            report.failed += 1
        else:
            succeeded.append((link, result))
    _adopt_orphans([(link, result) for link, result in succeeded if is_first_sync(link)])
    # One transaction and a handful of queries for the whole chunk: per-room round trips were most of a sync's cost.
    counts = apply_many([
        LinkChanges(link, result.events, result.removed_ids, fetched[link.pk] if result.full else None)
        for link, result in succeeded
    ])
    for link, result in succeeded:
        _succeed(link, token, result, windows[link.pk], now)
        report.counts += counts[link.pk]
        report.synced += 1
    if report.synced:
        CalendarConnection.objects.filter(pk=connection.pk).update(
            last_synced_at=now, last_error="", token_expires_at=provider.token_expires_at(connection))
    logger.info("synced %d link(s), %d failed: %s", report.synced, report.failed, report.counts)


def _adopt_orphans(first_syncs: list[tuple[CalendarLink, FetchResult]]) -> None:
    """Give a relinked room's new link the past bookings its old link left behind.

    Unlinking keeps past bookings for the reports (with no link); bookings are keyed by (link, event id), so a first
    sync reaching back over those days would store each of them a second time, and reports would count it twice.
    Only the oldest copy of an event is taken, in case earlier relinks already left duplicates."""
    wanted = Q()
    links: dict[int, CalendarLink] = {}
    for link, result in first_syncs:
        ids = [event.external_id for event in result.events]
        if ids:
            wanted |= Q(room_id=link.room_id, external_id__in=ids)
            links[link.room_id] = link
    if not wanted:
        return
    adopt: dict[tuple[int, str], int] = {}
    orphans = Booking.objects.filter(wanted, link__isnull=True).order_by("pk")
    for pk, room_id, external_id in orphans.values_list("pk", "room_id", "external_id"):
        adopt.setdefault((room_id, external_id), pk)
    by_link: dict[int, list[int]] = defaultdict(list)
    for (room_id, _), pk in adopt.items():
        by_link[links[room_id].pk].append(pk)
    for link_id, pks in by_link.items():
        Booking.objects.filter(pk__in=pks, link__isnull=True).update(link_id=link_id)
    if adopt:
        logger.info("relinked room(s) took back %d past booking(s) of their previous link", len(adopt))


def _access_gone(connection: CalendarConnection, provider: object, links: list[CalendarLink]) -> bool:
    """Every room of this chunk said 401/403: ask about a few others before calling consent revoked, so one
    room with a restrictive mailbox policy cannot take the whole tenant offline."""
    others = list(CalendarLink.objects.filter(connection=connection).exclude(pk__in=[link.pk for link in links])
                  .values_list("external_calendar_id", flat=True)[:3])
    try:
        gone = not provider.has_access(connection, others) if others else True  # type: ignore[attr-defined]
    except ConsentRevoked as error:
        mark_needs_consent(connection, error.reason, error.description)
        return True
    except OutboundError:
        return False
    if gone:
        mark_needs_consent(connection, "access_denied", "the provider refused access to every linked room (401/403)")
        CalendarLink.objects.filter(pk__in=[link.pk for link in links]).update(claimed_until=None, claim_token="")
    return gone


def _succeed(link: CalendarLink, token: str, result: FetchResult, window: tuple[datetime, datetime],
             now: datetime) -> None:
    fields: dict[str, object] = {
        "sync_state": result.sync_state,
        "sync_window_start": window[0],
        "sync_window_end": window[1],
        "last_synced_at": now,
        "last_error": "",
        "failures": 0,
        "claimed_until": None,
        "claim_token": "",
    }
    if result.full:
        fields["last_full_sync_at"] = now
    daily = next_daily_sync(str(link.room.zone), link.room_id, now)
    # Only move next_sync_at on if no notification arrived while we were fetching; otherwise leave it due.
    # (One conditional UPDATE per link measured faster than a chunk-wide bulk_update with its CASE expressions.)
    moved = CalendarLink.objects.filter(pk=link.pk, claim_token=token, change_seq=link.change_seq).update(
        next_sync_at=daily, **fields)
    if not moved:
        CalendarLink.objects.filter(pk=link.pk, claim_token=token).update(**fields)


def _fail(link: CalendarLink, token: str, error: Exception) -> None:
    failures = link.failures + 1
    wait = min(60.0 * 2 ** (failures - 1), MAX_BACKOFF_S)
    logger.warning("sync of link %s failed (%d in a row): %s", link.pk, failures, error)
    CalendarLink.objects.filter(pk=link.pk, claim_token=token).update(
        failures=failures, last_error=str(error)[:1000], claimed_until=None, claim_token="",
        next_sync_at=timezone.now() + timedelta(seconds=wait),
    )


def _release(links: list[CalendarLink], token: str, retry_in: float | None = None) -> None:
    updates: dict[str, object] = {"claimed_until": None, "claim_token": ""}
    if retry_in is not None:
        updates["next_sync_at"] = timezone.now() + timedelta(seconds=retry_in)
    CalendarLink.objects.filter(pk__in=[link.pk for link in links], claim_token=token).update(**updates)


def connection_error(connection: CalendarConnection, message: str) -> None:
    CalendarConnection.objects.filter(pk=connection.pk).update(last_error=message[:1000],
                                                               last_error_at=timezone.now())
