"""Writing a provider's events into bookings: idempotent upserts keyed by (link, external id)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import django.dispatch
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Booking, CalendarLink
from .remote import RemoteEvent

#: Sent after commit with ``room_ids`` whose bookings changed (occupancy recomputes outcomes, kiosks their status).
bookings_changed = django.dispatch.Signal()

_COMPARED = ("ical_uid", "series_id", "subject", "organizer_hash", "attendee_count", "start", "end", "all_day",
             "private", "cancelled")


@dataclass
class ApplyCounts:
    created: int = 0
    updated: int = 0
    cancelled: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.cancelled)

    def __iadd__(self, other: ApplyCounts) -> ApplyCounts:
        self.created += other.created
        self.updated += other.updated
        self.cancelled += other.cancelled
        return self


def organizer_hash(tenant_id: int, email: str) -> str:
    """A stable pseudonym per tenant: reports can group by organiser without us keeping the address."""
    if not email:
        return ""
    return hashlib.sha256(f"{tenant_id}:{email.strip().lower()}".encode()).hexdigest()


def local_days(zone: ZoneInfo, first: date, end: date) -> tuple[datetime, datetime]:
    """Local midnight of ``first`` to local midnight of ``end`` in ``zone``, as aware UTC: what an all-day booking
    spans (23, 24 or 25 hours a day, as the room's clock goes)."""
    return (datetime.combine(first, time(), tzinfo=zone).astimezone(UTC),
            datetime.combine(end, time(), tzinfo=zone).astimezone(UTC))


def _span(link: CalendarLink, event: RemoteEvent) -> tuple[datetime, datetime]:
    """An all-day event is a local date of the room (DESIGN.md section 6), not the instants the provider wrote it
    with: Graph sends it as midnight UTC, which in Oslo is 01:00 and in New York the evening before."""
    if event.all_day and event.first_date is not None and event.end_date is not None:
        return local_days(link.room.zone, event.first_date, max(event.end_date, event.first_date))
    return event.start, max(event.end, event.start)


def _values(link: CalendarLink, event: RemoteEvent) -> dict[str, object]:
    start, end = _span(link, event)
    return {
        "ical_uid": event.ical_uid[:300],
        "series_id": event.series_id[:300],
        "subject": "" if event.private else event.subject[:500],
        "organizer_hash": "" if event.private else organizer_hash(link.room.tenant_id, event.organizer_email),
        "attendee_count": event.attendee_count,
        "start": start,
        "end": end,
        "all_day": event.all_day,
        "private": event.private,
        "cancelled": event.cancelled,
    }


@dataclass(frozen=True)
class LinkChanges:
    """What one link's fetch brought: upserts, removals, and for a full fetch the window it covered."""

    link: CalendarLink
    events: list[RemoteEvent]
    removed_ids: list[str] = field(default_factory=list)
    full_window: tuple[datetime, datetime] | None = None


def apply_events(
    link: CalendarLink,
    events: Iterable[RemoteEvent],
    removed_ids: Iterable[str] = (),
    *,
    full_window: tuple[datetime, datetime] | None = None,
) -> ApplyCounts:
    """Upsert ``events``, cancel ``removed_ids``; with ``full_window``, cancel every live booking of the link in
    that window that ``events`` no longer contains. Applying the same input twice changes nothing."""
    return apply_many([LinkChanges(link, list(events), list(removed_ids), full_window)])[link.pk]


@transaction.atomic
def apply_many(changes: list[LinkChanges]) -> dict[int, ApplyCounts]:
    """:func:`apply_events` for several links (a sync chunk) in one transaction and a handful of queries."""
    now = timezone.now()
    counts = {item.link.pk: ApplyCounts() for item in changes}
    incoming = {item.link.pk: {event.external_id: _values(item.link, event) for event in item.events}
                for item in changes}
    links = {item.link.pk: item.link for item in changes}
    wanted = Q()
    for link_id, values in incoming.items():
        if values:
            wanted |= Q(link_id=link_id, external_id__in=list(values))
    existing = {(b.link_id, b.external_id): b for b in Booking.objects.filter(wanted)} if wanted else {}
    new, changed = [], []
    for link_id, values_by_id in incoming.items():
        link = links[link_id]
        for external_id, values in values_by_id.items():
            booking = existing.get((link_id, external_id))
            if booking is None:
                new.append(Booking(room_id=link.room_id, link=link, external_id=external_id, **values))
                counts[link_id].created += 1
            elif any(getattr(booking, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(booking, name, value)
                booking.updated_at = now
                changed.append(booking)
                counts[link_id].updated += 1
    if new:
        # update_conflicts keeps this idempotent even if another writer inserted the same event meanwhile.
        Booking.objects.bulk_create(new, update_conflicts=True, unique_fields=["link", "external_id"],
                                    update_fields=[*_COMPARED, "updated_at"], batch_size=500)
    if changed:
        Booking.objects.bulk_update(changed, [*_COMPARED, "updated_at"], batch_size=500)

    gone = _gone(changes, incoming)
    if gone:
        for link_id, pks in gone.items():
            counts[link_id].cancelled = len(pks)
        Booking.objects.filter(pk__in=[pk for pks in gone.values() for pk in pks]).update(cancelled=True,
                                                                                          updated_at=now)
    room_ids = sorted({links[link_id].room_id for link_id, count in counts.items() if count.changed})
    if room_ids:
        transaction.on_commit(lambda: bookings_changed.send(sender=Booking, room_ids=room_ids))
    return counts


def _gone(changes: list[LinkChanges], incoming: dict[int, dict[str, object]]) -> dict[int, list[int]]:
    """Live bookings each link must cancel: its removed ids, and for a full fetch whatever in its window did not
    come back."""
    wanted = Q()
    for item in changes:
        removed = set(item.removed_ids) - set(incoming[item.link.pk])
        if removed:
            wanted |= Q(link_id=item.link.pk, external_id__in=list(removed))
        if item.full_window is not None:
            start, end = item.full_window
            wanted |= Q(link_id=item.link.pk, start__lt=end, end__gt=start)
    if not wanted:
        return {}
    gone: dict[int, list[int]] = {}
    for pk, link_id, external_id in Booking.objects.filter(wanted, cancelled=False).values_list(
        "pk", "link_id", "external_id"
    ):
        if external_id not in incoming[link_id]:
            gone.setdefault(link_id, []).append(pk)
    return gone
