"""The provider-neutral face of a calendar provider: what the sync engine and the linking pages ask of it.

Microsoft 365 and Google Workspace each implement :class:`CalendarProvider` in their own package; the engine in
this package never imports them directly but looks them up by name (:func:`provider_for`, through
:mod:`.registry`), so the dependency points from the providers to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from .registry import calendar_provider

if TYPE_CHECKING:
    from .models import CalendarConnection, CalendarLink, Subscription


@dataclass(frozen=True)
class RemoteCalendar:
    """A room calendar as the provider lists it, keyed by ``external_id`` (the room's email address)."""

    external_id: str
    name: str = ""
    capacity: int | None = None
    building: str = ""
    floor: str = ""


@dataclass(frozen=True)
class RemoteEvent:
    """One occurrence in a room calendar, already in aware UTC, private details already dropped.

    An all-day event is a span of local dates, not of instants: ``first_date`` and ``end_date`` (the day after the
    last) carry them, and the booking runs from the room's local midnight of the one to that of the other
    (``bookings``), whatever zone the provider's ``start``/``end`` were written in."""

    external_id: str
    start: datetime
    end: datetime
    ical_uid: str = ""
    series_id: str = ""
    subject: str = ""
    organizer_email: str = ""
    attendee_count: int | None = None
    all_day: bool = False
    first_date: date | None = None
    end_date: date | None = None
    private: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class FetchRequest:
    """Fetch one link's events for a window: incrementally from ``sync_state`` when given, else in full."""

    link_id: int
    calendar_id: str
    window_start: datetime
    window_end: datetime
    sync_state: str = ""


@dataclass
class FetchResult:
    """What came back for one link. ``full`` means ``events`` is everything in the window (anything we hold
    for the window and did not get back was removed); otherwise ``events`` and ``removed_ids`` are changes."""

    link_id: int
    full: bool = False
    events: list[RemoteEvent] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    sync_state: str = ""
    #: Set when this link failed; the other links of the same fetch are unaffected.
    error: Exception | None = None
    #: The failure was a 401/403 on this calendar (repeated on every room, it means revoked consent).
    auth_failed: bool = False


@dataclass(frozen=True)
class RemoteSubscription:
    external_id: str
    resource: str
    expires_at: datetime


class CalendarProvider(Protocol):
    """Everything provider-specific the engine needs. Methods raise ``ConsentRevoked`` when the customer
    withdrew access and the seam's ``OutboundError`` subclasses (``Throttled``, ``TransientError`` ...) otherwise."""

    #: Longest subscription lifetime the provider allows.
    max_subscription_lifetime_s: float

    def discover_calendars(self, connection: CalendarConnection) -> list[RemoteCalendar]: ...

    def find_calendar(self, connection: CalendarConnection, external_id: str) -> RemoteCalendar | None:
        """Look one calendar up by address (rooms that discovery does not list); None if there is none."""
        ...

    def fetch(self, connection: CalendarConnection, requests: list[FetchRequest]) -> list[FetchResult]:
        """One result per request, in any order; an expired ``sync_state`` is the provider's to turn into a
        full fetch."""
        ...

    def has_access(self, connection: CalendarConnection, calendar_ids: list[str]) -> bool:
        """False when the provider refuses us on every one of these calendars (consent is gone)."""
        ...

    def subscribe(
        self, connection: CalendarConnection, link: CalendarLink, client_state: str, expires_at: datetime
    ) -> RemoteSubscription: ...

    def renew(
        self, connection: CalendarConnection, subscription: Subscription, expires_at: datetime
    ) -> datetime | None:
        """The new expiry, or None when the provider no longer knows the subscription."""
        ...

    def unsubscribe(self, connection: CalendarConnection, external_id: str, resource: str) -> None:
        """Remove a subscription; one that is already gone is not an error."""
        ...

    def token_expires_at(self, connection: CalendarConnection) -> datetime | None:
        """When the access token in use expires (shown to the admin), if known."""
        ...

    def forget(self, connection: CalendarConnection) -> None:
        """Drop cached tokens or clients of this connection (after revocation)."""
        ...


def provider_for(name: str) -> CalendarProvider:
    """The ``CalendarProvider`` of the provider registered under ``name`` (:mod:`.registry`)."""
    return calendar_provider(name)
