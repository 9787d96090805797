"""Writing a provider's events into bookings: idempotent upserts keyed by (link, external id)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import django.dispatch
from django.db import transaction
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


def _values(link: CalendarLink, event: RemoteEvent) -> dict[str, object]:
    return {
        "ical_uid": event.ical_uid[:300],
        "series_id": event.series_id[:300],
        "subject": "" if event.private else event.subject[:500],
        "organizer_hash": "" if event.private else organizer_hash(link.room.tenant_id, event.organizer_email),
        "attendee_count": event.attendee_count,
        "start": event.start,
        "end": max(event.end, event.start),
        "all_day": event.all_day,
        "private": event.private,
        "cancelled": event.cancelled,
    }


@transaction.atomic
def apply_events(
    link: CalendarLink,
    events: Iterable[RemoteEvent],
    removed_ids: Iterable[str] = (),
    *,
    full_window: tuple[datetime, datetime] | None = None,
) -> ApplyCounts:
    """Upsert ``events``, cancel ``removed_ids``; with ``full_window``, cancel every live booking of the link in
    that window that ``events`` no longer contains. Applying the same input twice changes nothing."""
    counts = ApplyCounts()
    now = timezone.now()
    incoming = {event.external_id: _values(link, event) for event in events}
    existing = {b.external_id: b for b in Booking.objects.filter(link=link, external_id__in=list(incoming))}
    new, changed = [], []
    for external_id, values in incoming.items():
        booking = existing.get(external_id)
        if booking is None:
            new.append(Booking(room_id=link.room_id, link=link, external_id=external_id, **values))
        elif any(getattr(booking, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(booking, name, value)
            booking.updated_at = now
            changed.append(booking)
    if new:
        # update_conflicts keeps this idempotent even if another writer inserted the same event meanwhile.
        Booking.objects.bulk_create(new, update_conflicts=True, unique_fields=["link", "external_id"],
                                    update_fields=[*_COMPARED, "updated_at"])
    if changed:
        Booking.objects.bulk_update(changed, [*_COMPARED, "updated_at"])
    counts.created, counts.updated = len(new), len(changed)

    gone = set(removed_ids) - set(incoming)
    live = Booking.objects.filter(link=link, cancelled=False)
    if full_window is not None:
        start, end = full_window
        gone |= set(live.filter(start__lt=end, end__gt=start).exclude(external_id__in=list(incoming))
                    .values_list("external_id", flat=True))
    if gone:
        counts.cancelled = live.filter(external_id__in=list(gone)).update(cancelled=True, updated_at=now)
    if counts.changed:
        room_id = link.room_id
        transaction.on_commit(lambda: bookings_changed.send(sender=Booking, room_ids=[room_id]))
    return counts
