"""Microsoft 365 behind the provider-neutral :class:`~spaces_calendar.calendars.remote.CalendarProvider`.

Syncs go through ``calendarView/delta`` inside ``$batch``: one batch carries the next page of up to 20 rooms, so a
sync of N rooms costs about N / 20 requests per page instead of N.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, Subscription, ValidationWindow
from spaces_calendar.calendars.remote import FetchRequest, FetchResult, RemoteCalendar, RemoteEvent, RemoteSubscription
from spaces_calendar.core.http import AuthError, PermanentError, TransientError

from .client import BatchRequest, BatchResponse, Event, GraphClient, forget_tenant, parse_event, token_expiry
from .timezones import all_day_date, to_graph_utc

logger = logging.getLogger(__name__)

#: Graph's limit for event subscriptions is 10,080 minutes; stay a little inside it so clock skew is harmless.
MAX_SUBSCRIPTION_MINUTES = 10_080
PAGE_SIZE_HEADER = {"Prefer": "odata.maxpagesize=100"}
#: How long Graph may take to call our endpoint back while a subscription is being created.
VALIDATION_WINDOW_S = 60


class MicrosoftCalendars:
    max_subscription_lifetime_s = (MAX_SUBSCRIPTION_MINUTES - 10) * 60.0

    # -- rooms -------------------------------------------------------------------------------------------

    def discover_calendars(self, connection: CalendarConnection) -> list[RemoteCalendar]:
        return [
            RemoteCalendar(
                external_id=room.email,
                name=room.display_name,
                capacity=room.capacity,
                building=room.building or "",
                floor="" if room.floor_number is None else str(room.floor_number),
            )
            for room in self._client(connection).list_rooms()
        ]

    def find_calendar(self, connection: CalendarConnection, external_id: str) -> RemoteCalendar | None:
        """Places does not list every room, but a room's calendar answers when asked by address."""
        email = external_id.strip().lower()
        now = timezone.now()
        try:
            self._client(connection).calendar_view(email, now, now + timedelta(minutes=1))
        except PermanentError as error:
            if error.status in (400, 404):
                return None
            raise
        return RemoteCalendar(external_id=email, name=email.split("@")[0])

    def has_access(self, connection: CalendarConnection, calendar_ids: list[str]) -> bool:
        now = timezone.now()
        probes = [BatchRequest(id=str(i), url=_view_url(email, now, now + timedelta(minutes=1)) + "&$top=1")
                  for i, email in enumerate(calendar_ids[:3])]
        if not probes:
            return True
        answers = self._client(connection).batch(probes)
        return not all(answer.status in (401, 403) for answer in answers)

    # -- events ------------------------------------------------------------------------------------------

    def fetch(self, connection: CalendarConnection, requests: list[FetchRequest]) -> list[FetchResult]:
        client = self._client(connection)
        base = client.base_url
        rounds = {request.link_id: _Round(request, base) for request in requests}
        while pending := [item for item in rounds.values() if item.next_url]:
            answers = client.batch([
                BatchRequest(id=str(item.request.link_id), url=item.next_url, headers=PAGE_SIZE_HEADER)
                for item in pending
            ], parallel=settings.CALENDAR_SYNC_PARALLEL_BATCHES)
            for answer in answers:
                rounds[int(answer.id)].take(answer)
        return [item.result for item in rounds.values()]

    # -- subscriptions -----------------------------------------------------------------------------------

    def subscribe(
        self, connection: CalendarConnection, link: CalendarLink, client_state: str, expires_at: datetime
    ) -> RemoteSubscription:
        base = settings.PUBLIC_BASE_URL
        window = ValidationWindow.objects.create(
            connection=connection, expires_at=timezone.now() + timedelta(seconds=VALIDATION_WINDOW_S)
        )
        try:
            info = self._client(connection).create_subscription(
                link.external_calendar_id,
                notification_url=base + reverse("microsoft-notifications"),
                lifecycle_url=base + reverse("microsoft-lifecycle"),
                client_state=client_state,
                expires_at=expires_at,
            )
        finally:
            # Must be visible to the web process during the POST: call this outside a transaction (Celery does).
            ValidationWindow.objects.filter(pk=window.pk).delete()
        return RemoteSubscription(external_id=info.id, resource=info.resource, expires_at=info.expires_at)

    def renew(
        self, connection: CalendarConnection, subscription: Subscription, expires_at: datetime
    ) -> datetime | None:
        try:
            return self._client(connection).renew_subscription(subscription.external_id, expires_at).expires_at
        except PermanentError as error:
            if error.status == 404:
                return None
            raise

    def unsubscribe(self, connection: CalendarConnection, external_id: str, resource: str) -> None:
        self._client(connection).delete_subscription(external_id)

    def token_expires_at(self, connection: CalendarConnection) -> datetime | None:
        return token_expiry(connection.external_tenant_id)

    def forget(self, connection: CalendarConnection) -> None:
        if connection.external_tenant_id:
            forget_tenant(connection.external_tenant_id)

    @staticmethod
    def _client(connection: CalendarConnection) -> GraphClient:
        return GraphClient(connection.external_tenant_id)


def _view_url(email: str, start: datetime, end: datetime, path: str = "calendarView") -> str:
    query = urlencode({"startDateTime": to_graph_utc(start), "endDateTime": to_graph_utc(end)})
    return f"/users/{quote(email)}/{path}?{query}"


class _Round:
    """One link's walk through delta pages inside shared batches."""

    def __init__(self, request: FetchRequest, base_url: str):
        self.request = request
        self.base_url = base_url
        self.result = FetchResult(link_id=request.link_id)
        self.next_url: str | None = None
        if request.sync_state and request.sync_state.startswith(base_url):
            self.next_url = request.sync_state[len(base_url):]
        else:
            self._restart()

    def _restart(self) -> None:
        request = self.request
        self.result = FetchResult(link_id=request.link_id, full=True)
        self.next_url = _view_url(request.calendar_id, request.window_start, request.window_end, "calendarView/delta")

    def take(self, answer: BatchResponse) -> None:
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 200:
            self._page(body)
        elif answer.status == 410 or _error_code(body) == "syncStateNotFound":
            if self.result.full:  # a fresh round cannot have an expired state: do not loop
                self._fail(PermanentError("delta refused a fresh round with 410", status=410, kind="410"))
                return
            logger.info("delta state of link %s expired: full resync", self.request.link_id)
            self._restart()
        elif answer.status in (401, 403):
            self.result.auth_failed = True
            self._fail(AuthError(f"Graph refused {self.request.calendar_id}: {_error_code(body) or answer.status}",
                                 status=answer.status))
        elif answer.status >= 500 or answer.status in (429,):
            self._fail(TransientError(f"Graph {answer.status} for {self.request.calendar_id}", status=answer.status))
        else:
            self._fail(PermanentError(f"Graph {answer.status} for {self.request.calendar_id}: {_error_code(body)}",
                                      status=answer.status, kind=_error_code(body) or str(answer.status)))

    def _page(self, body: dict[str, Any]) -> None:
        for item in body.get("value") or []:
            if not isinstance(item, dict) or "id" not in item:
                logger.warning("skipping an unreadable event item for link %s", self.request.link_id)
            elif "@removed" in item:
                self.result.removed_ids.append(str(item["id"]))
            else:
                try:
                    self.result.events.append(neutral_event(parse_event(item), all_day_dates(item)))
                except (KeyError, TypeError, ValueError) as error:
                    logger.warning("skipping event %s of link %s: %s", item.get("id"), self.request.link_id, error)
        if body.get("@odata.nextLink"):
            self.next_url = self._relative(str(body["@odata.nextLink"]))
        else:
            self.result.sync_state = str(body.get("@odata.deltaLink") or "")
            self.next_url = None

    def _relative(self, url: str) -> str | None:
        if not url.startswith(self.base_url):  # never follow a link off Graph's host with our token
            self._fail(PermanentError("Graph sent a nextLink off its own host", kind="foreign_link"))
            return None
        return url[len(self.base_url):]

    def _fail(self, error: Exception) -> None:
        self.result.error = error
        self.next_url = None


def _error_code(body: dict[str, Any]) -> str:
    error = body.get("error")
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def all_day_dates(item: dict[str, Any]) -> tuple[date, date] | None:
    """An all-day event's first date and the date after its last (None for a timed event): the booking is anchored
    to the room's own midnights from these, whatever zone Graph labelled the event with."""
    if not item.get("isAllDay"):
        return None
    first, after = all_day_date(item["start"]), all_day_date(item["end"])
    return first, max(after, first + timedelta(days=1))


def neutral_event(event: Event, dates: tuple[date, date] | None = None) -> RemoteEvent:
    """``dates``: see :func:`all_day_dates` (without them an all-day event keeps Graph's instants)."""
    return RemoteEvent(
        external_id=event.id,
        start=event.start,
        end=event.end,
        ical_uid=event.ical_uid,
        series_id=event.series_master_id or "",
        subject="" if event.is_private else (event.subject or ""),
        organizer_email=event.organizer_email or "",
        attendee_count=event.attendee_count,
        all_day=event.is_all_day,
        first_date=dates[0] if dates and event.is_all_day else None,
        end_date=dates[1] if dates and event.is_all_day else None,
        private=event.is_private,
        cancelled=event.is_cancelled,
    )

