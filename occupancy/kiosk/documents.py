"""Each room's status document, precomputed into ``KioskRoomStatus`` so that a poll is one cheap query.

A stored document is served while the room's booking and occupancy fingerprints (``queries``) still match and its
``valid_until`` (the next booking start or end, the end of the grace window, the moment a fresh reading would go
stale) has not passed; otherwise it is rebuilt, in one batch for a many-room request.

Staleness bound: a change to a room's bookings or sensor values shows in the very next request after it is
committed (on PostgreSQL, where web processes answer from memory: as soon as the process has heard of it, see
``changes``). A changed room, floor or building drops its rooms' documents (triggers, migration
``0006_kiosk_documents_follow_places``), and so do the tenant's rules (subjects, grace window) when changed on the
Occupancy rules page (``occupancy.rules``): both show at the next poll. What is still not fingerprinted (a booking
that began more than 12 h before the document was built) shows within ``KIOSK_DOCUMENT_MAX_AGE_S`` (5 min).
Nothing depends on a Django signal or a shared cache, so this holds in every web process, for bookings written by
any path (calendar sync in a worker, the admin, a script, SQL) and for sensor states written by the
Firehose receiver; ``bookings_changed`` needs no receiver here.

``data_age_s`` and ``occupancy.observed_at`` change with every sensor report, not only when the status does: they
are filled in from the live newest reading when served, and are not part of the (therefore weak) ETag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection
from django.utils import timezone

from occupancy import bulk
from occupancy.fusion import DEFAULT_SILENCE, FALLBACK_STALENESS, Reading
from occupancy.models import OccupancyPolicy, RoomSourceState, SourceOutage
from occupancy.outages import FIREHOSE_SOURCES
from occupancy.pipeline import silence_limits
from occupancy.timestamps import EpochMicros, from_micros
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room

from . import queries
from .conf import kiosk_settings
from .models import KioskRoomStatus
from .queries import Entry, RoomRow
from .status import Policy, Slot, isoformat, occupancy_now, room_reference, room_status, status_document

logger = logging.getLogger(__name__)

#: Bookings that started this long before a document was built are not fingerprinted (see above).
VERSION_LOOKBACK = timedelta(hours=12)
#: Readings older than this at build time were stale (or about to be) for every source.
RECENT_WINDOW = min([*DEFAULT_SILENCE.values(), FALLBACK_STALENESS])
#: How far back a still-running booking may have started (multi-day events), and how far ahead we look.
BOOKING_LOOKBACK = timedelta(days=7)
BOOKING_HORIZON = timedelta(days=14)
#: Marks where ``occupancy.observed_at`` goes in a stored body; JSON text never holds a raw control character.
SLOT = "\x1f"
_PLACEHOLDER = "__kiosk_observed_at__"


def current_entries(rows: Sequence[RoomRow], now: datetime | None = None) -> list[Entry]:
    """Each row's document, rebuilding (in one batch) those that are missing or out of date."""
    missing = [row.room_id for row in rows if row.entry is None]
    rebuilt = rebuild(missing, now or timezone.now()) if missing else {}
    return [row.entry or rebuilt[row.room_id] for row in rows if row.entry or row.room_id in rebuilt]


# --- Building ----------------------------------------------------------------------------------------------------

def rebuild(room_ids: Iterable[int], now: datetime) -> dict[int, Entry]:
    """Compute and store the documents of ``room_ids``; a handful of queries whatever their number."""
    room_ids = sorted(set(room_ids))
    since, recent_after = now - VERSION_LOOKBACK, now - RECENT_WINDOW
    # Fingerprints first: a change that lands while we build then leaves a mismatch, so the next request rebuilds.
    versions = queries.versions(room_ids, since, recent_after)
    # One query for the rooms with everything one-to-one about them: place, policy, grace override, calendar link.
    rooms = list(Room.objects.filter(pk__in=versions).select_related(
        "floor__building", "tenant__occupancy_policy", "grace_override", "calendar_link"))
    slots = _slots(versions, now)
    readings = _readings(versions)
    # While a tenant's stream is down, what its sources said last may no longer be true: unknown, never a guess.
    down = set(SourceOutage.objects.filter(end__isnull=True, tenant_id__in={room.tenant_id for room in rooms})
               .values_list("tenant_id", flat=True))
    limits = silence_limits()
    max_age = timedelta(seconds=kiosk_settings().document_max_age_s)
    rows, entries = [], {}
    for room in rooms:
        policy = _policy(room)
        known = readings.get(room.pk, [])
        if room.tenant_id in down:
            known = [reading for reading in known if reading.source not in FIREHOSE_SOURCES]
        occupancy = occupancy_now(known, now, limits)
        status = room_status(slots.get(room.pk, []), occupancy, now, policy, max_age)
        document = status_document(room_reference(room), status, policy,
                                   has_calendar=_related(room, "calendar_link") is not None or room.pk in slots)
        document["occupancy"]["observed_at"] = _PLACEHOLDER
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        body = "," + text[1:].replace(f'"{_PLACEHOLDER}"', SLOT, 1)
        etag = hashlib.sha256(body.encode()).hexdigest()[:32]
        valid_until_ts = status.valid_until.timestamp()
        entries[room.pk] = Entry(room.pk, etag, body, occupancy.observed_at, valid_until_ts)
        bv, ov = versions[room.pk]
        rows.append(KioskRoomStatus(room_id=room.pk, etag=etag, body=body,
                                    valid_until_ts=valid_until_ts, bookings_from=since,
                                    booking_version=bv, recent_after=recent_after, occupancy_version=ov,
                                    computed_at=now))
    _store(rows)
    return entries


_STORED = ["etag", "body", "valid_until_ts", "bookings_from", "booking_version", "recent_after",
           "occupancy_version", "computed_at"]
#: From this many documents on, PostgreSQL gets them by COPY: Django binds a batch's parameters slower than the
#: batch is built (a third of a 500-room rebuild).
_COPY_FROM = 20


def _store(rows: list[KioskRoomStatus]) -> None:
    try:
        if connection.vendor == "postgresql" and len(rows) >= _COPY_FROM:
            with connection.wrap_database_errors:
                bulk.copy_upsert(KioskRoomStatus, ["room_id", *_STORED],
                                 [(row.room_id, *(getattr(row, name) for name in _STORED)) for row in rows],
                                 conflict=["room_id"])
        else:
            KioskRoomStatus.objects.bulk_create(rows, update_conflicts=True, unique_fields=["room"],
                                                update_fields=_STORED)
    except IntegrityError:
        # A room deleted while we built its document: serve what we have, store nothing; the next poll rebuilds.
        logger.info("kiosk status of rooms %s not stored: a room was deleted meanwhile", [r.room_id for r in rows])


def _related(obj: object, name: str) -> object | None:
    """A reverse one-to-one that may be missing (Django raises for those)."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def _policy(room: Room) -> Policy:
    tenant = _related(room.tenant, "occupancy_policy") or OccupancyPolicy()
    grace = _related(room, "grace_override")
    return Policy(grace=timedelta(minutes=grace.grace_minutes if grace else tenant.grace_minutes),
                  exempt_after=timedelta(hours=tenant.exempt_after_hours), show_subjects=tenant.show_subjects)


def _slots(room_ids: Iterable[int], now: datetime) -> dict[int, list[Slot]]:
    # Times as integer microseconds from the database: loading tens of thousands of aware datetimes through the
    # driver and Django's converters was half the cost of a batch (every room at once at :00, see ``sweep``).
    rows = Booking.objects.filter(
        room_id__in=list(room_ids), cancelled=False, start__gte=now - BOOKING_LOOKBACK,
        start__lt=now + BOOKING_HORIZON, end__gt=now,
    ).annotate(s=EpochMicros("start"), e=EpochMicros("end")).values_list(
        "room_id", "s", "e", "subject", "private", "all_day")
    slots: dict[int, list[Slot]] = {}
    for room_id, start, end, subject, private, all_day in rows:
        slots.setdefault(room_id, []).append(Slot(from_micros(start), from_micros(end), subject, private, all_day))
    return slots


def _readings(room_ids: Iterable[int]) -> dict[int, list[Reading]]:
    rows = RoomSourceState.objects.filter(room_id__in=list(room_ids)).values_list(
        "room_id", "source", "observed_at", "present", "people_count")
    readings: dict[int, list[Reading]] = {}
    for room_id, source, observed_at, present, people in rows:
        readings.setdefault(room_id, []).append(Reading(source, observed_at, present, people))
    return readings


# --- Serving -----------------------------------------------------------------------------------------------------

def _document(entry: Entry, now_ts: float) -> str:
    if entry.observed_at is None:
        age, observed = "null", "null"
    else:
        age, observed = str(max(0, int(now_ts - entry.observed_at.timestamp()))), f'"{isoformat(entry.observed_at)}"'
    head, _slot, tail = entry.body.partition(SLOT)
    return '{"data_age_s":' + age + head + observed + tail


def render_one(entry: Entry, now_ts: float | None = None) -> bytes:
    return _document(entry, now_ts or time.time()).encode()


def render_many(entries: Sequence[Entry], now_ts: float | None = None) -> bytes:
    now_ts = now_ts or time.time()
    return ('{"rooms":[' + ",".join(_document(entry, now_ts) for entry in entries) + "]}").encode()


def etag_one(entry: Entry) -> str:
    return f'W/"{entry.etag}"'


def etag_many(entries: Sequence[Entry]) -> str:
    digest = hashlib.sha256("|".join(f"{e.room_id}:{e.etag}" for e in entries).encode()).hexdigest()[:32]
    return f'W/"{digest}"'
