"""The room calendars a connection offers for linking: what the provider lists, plus rooms added by address.

Rows are keyed by the lowercased address because provider ids change (Places room ids do). The provider is
called before any transaction opens: a slow directory must not hold database locks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from spaces_calendar.providers.errors import ConsentRevoked

from .connections import mark_needs_consent
from .models import CalendarConnection, CalendarLink, DiscoveredCalendar
from .remote import RemoteCalendar, provider_for

logger = logging.getLogger(__name__)

_DESCRIPTIVE_FIELDS = ("name", "capacity", "building", "floor")
_validate_email = EmailValidator()


class DiscoveryError(ValueError):
    """A calendar cannot be added (bad address, no such room calendar); the message is fit to show an admin."""


@dataclass(frozen=True)
class DiscoveryResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    #: No longer listed by the provider, but kept because an admin added it or a room is linked to it.
    kept: int = 0

    @property
    def listed(self) -> int:
        return self.added + self.updated + self.unchanged


def refresh_calendars(connection: CalendarConnection) -> DiscoveryResult:
    """Bring the connection's discovered calendars in line with the provider's room list.

    Raises the provider's ``ConsentRevoked`` (after marking the connection) or ``OutboundError``; the
    discovered calendars are unchanged then.
    """
    with _consent_watch(connection):
        listed = provider_for(connection.provider).discover_calendars(connection)
    return _store_discovered(connection, {calendar.external_id.strip().lower(): calendar for calendar in listed})


@transaction.atomic
def _store_discovered(connection: CalendarConnection, remote: dict[str, RemoteCalendar]) -> DiscoveryResult:
    now = timezone.now()
    existing = {row.external_id: row for row in DiscoveredCalendar.objects.select_for_update().filter(
        connection=connection)}
    new, seen, changed = [], [], 0
    for address, calendar in remote.items():
        row = existing.get(address)
        if row is None:
            new.append(DiscoveredCalendar(connection=connection, external_id=address, last_seen_at=now,
                                          **_described(calendar)))
        else:
            if _describe(row, calendar):
                changed += 1
            row.last_seen_at = now
            seen.append(row)
    DiscoveredCalendar.objects.bulk_create(new)
    # last_seen_at moves on every row seen, so all of them are written; "updated" counts real changes only.
    DiscoveredCalendar.objects.bulk_update(seen, [*_DESCRIPTIVE_FIELDS, "last_seen_at"], batch_size=500)
    removed, kept = _drop_vanished(connection, existing, remote)
    result = DiscoveryResult(added=len(new), updated=changed, unchanged=len(seen) - changed, removed=removed,
                             kept=kept)
    logger.info("discovered calendars of connection %s: %s", connection.pk, result)
    return result


def _drop_vanished(
    connection: CalendarConnection, existing: dict[str, DiscoveredCalendar], remote: dict[str, RemoteCalendar]
) -> tuple[int, int]:
    """Forget calendars the provider stopped listing, except those an admin added or a room still uses (a
    vanished room calendar is more likely hidden than deleted; the link's own sync will tell)."""
    vanished = [row for address, row in existing.items() if address not in remote]
    linked = set(CalendarLink.objects.filter(
        connection=connection, external_calendar_id__in=[row.external_id for row in vanished],
    ).values_list("external_calendar_id", flat=True))
    doomed = [row.pk for row in vanished if not row.added_manually and row.external_id not in linked]
    DiscoveredCalendar.objects.filter(pk__in=doomed).delete()
    return len(doomed), len(vanished) - len(doomed)


def add_calendar_by_email(connection: CalendarConnection, email: str) -> DiscoveredCalendar:
    """Offer a room calendar the provider's room list does not show (hidden from the address list, or created
    in the last couple of days), after checking that it answers. Adding the same address again is harmless."""
    address = email.strip().lower()
    try:
        _validate_email(address)
    except ValidationError:
        raise DiscoveryError(f"“{email.strip()}” is not an email address.") from None
    with _consent_watch(connection):
        calendar = provider_for(connection.provider).find_calendar(connection, address)
    if calendar is None:
        raise DiscoveryError(
            f"No room calendar answers at {address}. Check the address, and that the room's mailbox is in "
            f"the connected {connection.get_provider_display()} organisation."
        )
    return _store_manual(connection, address, calendar)


@transaction.atomic
def _store_manual(connection: CalendarConnection, address: str, calendar: RemoteCalendar) -> DiscoveredCalendar:
    row, created = DiscoveredCalendar.objects.select_for_update().get_or_create(
        connection=connection, external_id=address,
        defaults={"added_manually": True, "last_seen_at": timezone.now(), **_described(calendar)},
    )
    if not created:
        # A lookup by address knows less than the room list (no building, often no real name): fill gaps only.
        for field, value in _described(calendar).items():
            if getattr(row, field) in ("", None):
                setattr(row, field, value)
        row.added_manually = True
        row.last_seen_at = timezone.now()
        row.save()
    logger.info("calendar %s added by address to connection %s", address, connection.pk)
    return row


@contextmanager
def _consent_watch(connection: CalendarConnection) -> Iterator[None]:
    """A refused grant is the provider saying consent is gone: the connection stops until the admin reconnects."""
    try:
        yield
    except ConsentRevoked as error:
        mark_needs_consent(connection, error.reason, error.description)
        raise


def _described(calendar: RemoteCalendar) -> dict[str, object]:
    return {"name": calendar.name[:300], "capacity": _capacity(calendar.capacity),
            "building": calendar.building[:300], "floor": calendar.floor[:100]}


def _describe(row: DiscoveredCalendar, calendar: RemoteCalendar) -> bool:
    """Copy the provider's description onto ``row``; True if anything changed."""
    changed = False
    for field, value in _described(calendar).items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed


def _capacity(value: int | None) -> int | None:
    # The column is unsigned: a negative capacity from a directory is nonsense, not a reason to fail the refresh.
    return value if value is not None and value >= 0 else None
