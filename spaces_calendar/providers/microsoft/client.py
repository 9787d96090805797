"""Our Microsoft 365 client: msal app-only tokens per tenant and the Graph calls the sync engine needs.

Every request goes through the outbound seam (:mod:`spaces_calendar.core.http`), so timeouts, the CA bundle,
retries and ``Retry-After`` are handled there. Graph 401/403 surface as the seam's ``AuthError`` (the caller
decides when repeated ones mean revoked consent); a refused client-credentials grant raises ``ConsentRevoked``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests
from django.conf import settings

from spaces_calendar.core import http
from spaces_calendar.core.http import AuthError, OutboundError, PermanentError, Throttled, TransientError

from ..errors import ConsentRevoked, SyncStateExpired
from .timezones import from_graph, to_graph_utc

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MICROSOFT_LOGIN_HOSTS = frozenset({"login.microsoftonline.com"})
#: OAuth errors that mean the tenant no longer lets us in (consent revoked, app deleted, secret wrong).
REVOKED_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_grant"})
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
BATCH_LIMIT = 20
BATCH_RETRY_STATUSES = frozenset({429, 503})

_apps: dict[tuple[str, str, str], msal.ConfidentialClientApplication] = {}
#: When each tenant's current access token expires (epoch seconds), for the admin page.
_expiries: dict[str, float] = {}
_apps_lock = threading.Lock()


# --------------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------------


def confidential_app(tenant_id: str) -> msal.ConfidentialClientApplication:
    """The cached msal app for a tenant (https://learn.microsoft.com/entra/msal/python/)."""
    login = settings.MICROSOFT_LOGIN_URL.rstrip("/")
    key = (login, tenant_id, settings.MICROSOFT_CLIENT_ID)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = _build_app(login, tenant_id)
        return app


def _build_app(login: str, tenant_id: str) -> msal.ConfidentialClientApplication:
    authority = f"{login}/{quote(tenant_id, safe='')}"
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=authority,
            instance_discovery=urlsplit(login).hostname in MICROSOFT_LOGIN_HOSTS,
            http_client=http.build_session(),
        )
    except ValueError as error:  # msal's OIDC discovery got a 4xx: the tenant does not exist
        raise PermanentError(f"unknown tenant {tenant_id}: {str(error)[:200]}", kind="invalid_tenant") from None
    except requests.RequestException as error:
        raise _network_error(error, authority) from None


def token_expiry(tenant_id: str) -> datetime | None:
    """When the access token msal holds for this tenant expires, if this process got one."""
    expiry = _expiries.get(tenant_id)
    return datetime.fromtimestamp(expiry, UTC) if expiry else None


def forget_tenant(tenant_id: str) -> None:
    """Drop the cached msal app (and its token cache) of a tenant, e.g. after consent was revoked."""
    with _apps_lock:
        for key in [key for key in _apps if key[1] == tenant_id]:
            del _apps[key]
        _expiries.pop(tenant_id, None)


def acquire_token(tenant_id: str) -> str:
    """An app-only Graph token, from msal's cache while valid (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow)."""
    app = confidential_app(tenant_id)
    try:
        result = app.acquire_token_for_client([GRAPH_SCOPE])
    except requests.RequestException as error:
        raise _network_error(error, settings.MICROSOFT_LOGIN_URL) from None
    if "access_token" in result:
        if isinstance(result.get("expires_in"), int | float):
            _expiries[tenant_id] = time.time() + float(result["expires_in"])
        return str(result["access_token"])
    raise _token_error(tenant_id, result)


def _token_error(tenant_id: str, result: dict[str, Any]) -> Exception:
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").split("\r\n", 1)[0][:300]
    if error in REVOKED_ERRORS:
        forget_tenant(tenant_id)
        return ConsentRevoked(error, description)
    message = f"token for tenant {tenant_id} refused: {error}: {description}"
    if error in TRANSIENT_ERRORS:
        return TransientError(message, kind=error)
    return PermanentError(message, kind=error)


def _network_error(error: requests.RequestException, url: str) -> OutboundError:
    target = http.safe_url(url)
    http.raise_if_permanent(error, "POST", target)
    return TransientError(f"login at {target} failed: {http.describe(error)}", url=target, kind=type(error).__name__)


# --------------------------------------------------------------------------------------------------------
# Typed values
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """A room from Places (https://learn.microsoft.com/graph/api/resources/room); keyed by ``email``."""

    email: str
    display_name: str
    capacity: int | None
    id: str = ""
    building: str | None = None
    floor_number: int | None = None


@dataclass(frozen=True)
class Event:
    """One occurrence in a room's calendar (https://learn.microsoft.com/graph/api/resources/event)."""

    id: str
    ical_uid: str
    start: datetime
    end: datetime
    is_all_day: bool = False
    is_cancelled: bool = False
    is_private: bool = False
    #: None for private events: we do not keep what the organiser hid.
    subject: str | None = None
    organizer_email: str | None = None
    attendee_count: int = 0
    series_master_id: str | None = None
    type: str = "singleInstance"
    show_as: str = ""


@dataclass(frozen=True)
class DeltaPage:
    """The outcome of one delta round: changed events, removed ids, and the link for the next round."""

    events: list[Event]
    removed_ids: list[str]
    delta_link: str


@dataclass(frozen=True)
class BatchRequest:
    """One request of a JSON batch; ``url`` is relative to the Graph base (https://learn.microsoft.com/graph/json-batching)."""

    id: str
    url: str
    method: str = "GET"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            item["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            item["headers"] = headers
        return item


@dataclass(frozen=True)
class BatchResponse:
    """One item of a batch response: its own status, headers and body."""

    id: str
    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class SubscriptionInfo:
    """A Graph subscription (https://learn.microsoft.com/graph/api/resources/subscription)."""

    id: str
    resource: str
    change_type: str
    expires_at: datetime
    notification_url: str
    lifecycle_url: str | None = None


def parse_room(item: dict[str, Any]) -> Room:
    """A :class:`Room` from a Places item; ``capacity`` may come as a string, or not at all."""
    return Room(
        email=str(item.get("emailAddress") or "").strip().lower(),
        display_name=str(item.get("displayName") or ""),
        capacity=_int_or_none(item.get("capacity")),
        id=str(item.get("id") or ""),
        building=item.get("building"),
        floor_number=_int_or_none(item.get("floorNumber")),
    )


def parse_event(item: dict[str, Any]) -> Event:
    """An :class:`Event` in aware UTC; private events lose their subject and organiser."""
    private = str(item.get("sensitivity") or "").lower() in ("private", "confidential")
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    return Event(
        id=str(item["id"]),
        ical_uid=str(item.get("iCalUId") or ""),
        start=from_graph(item["start"]),
        end=from_graph(item["end"]),
        is_all_day=bool(item.get("isAllDay")),
        is_cancelled=bool(item.get("isCancelled")),
        is_private=private,
        subject=None if private else item.get("subject"),
        organizer_email=None if private or not organizer else str(organizer).lower(),
        attendee_count=len(item.get("attendees") or []),
        series_master_id=item.get("seriesMasterId"),
        type=str(item.get("type") or "singleInstance"),
        show_as=str(item.get("showAs") or ""),
    )


def parse_subscription(item: dict[str, Any]) -> SubscriptionInfo:
    """A :class:`SubscriptionInfo` from Graph's subscription JSON."""
    return SubscriptionInfo(
        id=str(item["id"]),
        resource=str(item.get("resource") or ""),
        change_type=str(item.get("changeType") or ""),
        expires_at=from_graph({"dateTime": str(item["expirationDateTime"]).rstrip("Z"), "timeZone": "UTC"}),
        notification_url=str(item.get("notificationUrl") or ""),
        lifecycle_url=item.get("lifecycleNotificationUrl"),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------------------------


class GraphClient:
    """Graph calls for one customer tenant, with app-only tokens from :func:`acquire_token`."""

    def __init__(self, tenant_id: str, session: requests.Session | None = None):
        self.tenant_id = tenant_id
        self.base_url = settings.MICROSOFT_GRAPH_URL.rstrip("/")
        self.session = session or http.build_session()

    # -- plumbing ----------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """Relative paths go under the Graph base; absolute ones (nextLink, deltaLink) must stay on its host."""
        if not path.startswith(("https://", "http://")):
            return f"{self.base_url}/{path.lstrip('/')}"
        if urlsplit(path).netloc != urlsplit(self.base_url).netloc:
            raise PermanentError(f"refusing to send our token to {http.safe_url(path)}", kind="foreign_link")
        return path

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        extra = kwargs.pop("headers", {})
        try:
            headers = {"Authorization": f"Bearer {acquire_token(self.tenant_id)}", **extra}
            return http.send(self.session, method, self._url(path), headers=headers, **kwargs)
        except AuthError as error:
            if error.status != 401:
                raise
        # Graph no longer takes the cached token (expired early, or consent revoked): ask Entra for a new one,
        # which raises ConsentRevoked if the tenant withdrew consent. Once only, so a bad token cannot loop.
        forget_tenant(self.tenant_id)
        headers = {"Authorization": f"Bearer {acquire_token(self.tenant_id)}", **extra}
        return http.send(self.session, method, self._url(path), headers=headers, **kwargs)

    def _pages(self, path: str, params: dict[str, str] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Each page of a collection, following ``@odata.nextLink`` (which already carries the query)."""
        page = self._request("GET", path, params=params, **kwargs).json()
        yield page
        while page.get("@odata.nextLink"):
            page = self._request("GET", page["@odata.nextLink"], **kwargs).json()
            yield page

    # -- rooms and events --------------------------------------------------------------------------------

    def list_rooms(self) -> list[Room]:
        """All rooms of the tenant, every page (https://learn.microsoft.com/graph/api/place-list)."""
        rooms = [parse_room(item) for page in self._pages("/places/microsoft.graph.room") for item in page["value"]]
        return [room for room in rooms if room.email]

    def calendar_view(self, room_email: str, start: datetime, end: datetime) -> list[Event]:
        """Occurrences overlapping [start, end) in a room's calendar (https://learn.microsoft.com/graph/api/user-list-calendarview)."""
        path = f"/users/{quote(room_email)}/calendarView"
        params = {"startDateTime": to_graph_utc(start), "endDateTime": to_graph_utc(end)}
        return [parse_event(item) for page in self._pages(path, params) for item in page["value"]]

    def calendar_view_delta(
        self, room_email: str, start: datetime, end: datetime, delta_link: str | None = None
    ) -> DeltaPage:
        """One delta round, all pages; raises SyncStateExpired on 410 (https://learn.microsoft.com/graph/api/event-delta)."""
        if delta_link:
            path, params = delta_link, None
        else:
            path = f"/users/{quote(room_email)}/calendarView/delta"
            params = {"startDateTime": to_graph_utc(start), "endDateTime": to_graph_utc(end)}
        events: list[Event] = []
        removed: list[str] = []
        next_round = None
        try:
            for page in self._pages(path, params):
                for item in page.get("value", []):
                    if "@removed" in item:
                        removed.append(str(item["id"]))
                    else:
                        events.append(parse_event(item))
                next_round = page.get("@odata.deltaLink")
        except PermanentError as error:
            if error.status == 410 or "syncStateNotFound" in error.body_excerpt:
                raise SyncStateExpired(f"delta state for {room_email} expired; full resync needed") from error
            raise
        return DeltaPage(events, removed, str(next_round or ""))

    # -- batching ----------------------------------------------------------------------------------------

    def batch(self, requests_: list[BatchRequest], *, parallel: int = 1) -> list[BatchResponse]:
        """Run requests as JSON batches of ≤ 20, up to ``parallel`` batches at a time, retrying throttled items
        (https://learn.microsoft.com/graph/json-batching). Callers keep each mailbox to one request per batch, so
        even four batches at once stay within Graph's four concurrent requests per mailbox."""
        chunks = [requests_[offset : offset + BATCH_LIMIT] for offset in range(0, len(requests_), BATCH_LIMIT)]
        answers: dict[str, BatchResponse] = {}
        if parallel <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                answers.update(self._batch_chunk(chunk))
        else:
            # One session per thread: requests does not promise that a Session is safe to share between threads.
            def run(chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
                return GraphClient(self.tenant_id)._batch_chunk(chunk)

            acquire_token(self.tenant_id)  # one token request up front, not one per thread racing an empty cache
            with ThreadPoolExecutor(max_workers=min(parallel, len(chunks)), thread_name_prefix="graph-batch") as pool:
                for part in pool.map(run, chunks):
                    answers.update(part)
        return [answers[item.id] for item in requests_]

    def _batch_chunk(self, chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
        retries = int(getattr(settings, "OUTBOUND_MAX_RETRIES", 3))
        max_wait = float(getattr(settings, "OUTBOUND_MAX_RETRY_WAIT", 30.0))
        answers: dict[str, BatchResponse] = {}
        pending = chunk
        for attempt in range(retries + 1):
            for answer in self._post_batch(pending):
                answers[answer.id] = answer
            throttled = [item for item in pending if answers[item.id].status in BATCH_RETRY_STATUSES]
            if not throttled:
                return answers
            wait = max(_retry_after(answers[item.id]) for item in throttled)
            if wait > max_wait or attempt == retries:
                raise Throttled(wait, f"$batch: {len(throttled)} item(s) throttled; retry after {wait:.3f} s")
            logger.warning("graph $batch: %d throttled item(s), waiting %.3f s", len(throttled), wait)
            http._sleep(wait)
            pending = throttled
        raise AssertionError("unreachable")

    def _post_batch(self, chunk: list[BatchRequest]) -> list[BatchResponse]:
        all_reads = all(item.method.upper() == "GET" for item in chunk)
        payload = {"requests": [item.as_json() for item in chunk]}
        body = self._request("POST", "/$batch", json=payload, idempotent=all_reads).json()
        return [
            BatchResponse(str(item["id"]), int(item["status"]), dict(item.get("headers") or {}), item.get("body"))
            for item in body.get("responses", [])
        ]

    # -- subscriptions -----------------------------------------------------------------------------------

    def create_subscription(
        self, room_email: str, notification_url: str, lifecycle_url: str | None, client_state: str, expires_at: datetime
    ) -> SubscriptionInfo:
        """Subscribe to a room's events; Graph validates our URLs first (https://learn.microsoft.com/graph/api/subscription-post-subscriptions)."""
        payload = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"/users/{room_email}/events",
            "expirationDateTime": to_graph_utc(expires_at),
            "clientState": client_state,
        }
        if lifecycle_url:
            payload["lifecycleNotificationUrl"] = lifecycle_url
        return parse_subscription(self._request("POST", "/subscriptions", json=payload).json())

    def renew_subscription(self, subscription_id: str, expires_at: datetime) -> SubscriptionInfo:
        """Move a subscription's expiry (https://learn.microsoft.com/graph/api/subscription-update)."""
        payload = {"expirationDateTime": to_graph_utc(expires_at)}
        response = self._request("PATCH", f"/subscriptions/{quote(subscription_id)}", json=payload, idempotent=True)
        return parse_subscription(response.json())

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription; False if it was already gone (https://learn.microsoft.com/graph/api/subscription-delete)."""
        try:
            self._request("DELETE", f"/subscriptions/{quote(subscription_id)}")
        except PermanentError as error:
            if error.status == 404:
                return False
            raise
        return True


def _retry_after(answer: BatchResponse) -> float:
    headers = {name.lower(): value for name, value in answer.headers.items()}
    wait = http.parse_retry_after(headers.get("retry-after"))
    return wait if wait is not None else http.BACKOFF_BASE
