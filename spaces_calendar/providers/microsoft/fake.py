"""A protocol-faithful fake of Entra login + Microsoft Graph, on the sandbox harness (real sockets, TLS).

Two TLS servers: ``login`` (OIDC discovery, client-credentials token endpoint, admin consent) and ``graph``
(served under ``/v1.0``: Places rooms, calendarView, calendarView/delta, ``$batch``, subscriptions). State is
plain Python a test can change: tenants, rooms, events per room mailbox, subscriptions. Shapes and errors
follow Microsoft's published payloads (see the shared fixtures): string capacities, naive ``dateTime`` +
Windows ``timeZone``, ``@removed`` delta items with only an id, fractional ``Retry-After``, Entra error JSON,
and the subscription validation handshake that calls our endpoint back before a subscription exists.

Typical use::

    with FakeMicrosoft() as fake:
        settings.MICROSOFT_LOGIN_URL, settings.MICROSOFT_GRAPH_URL = fake.login_url, fake.graph_url
        fake.add_room("board@contoso.com", capacity="12")
        fake.add_event("board@contoso.com", "Standup", "2024-05-02T09:00:00", "2024-05-02T09:15:00",
                       time_zone="W. Europe Standard Time")
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import requests

from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, FakeServer, Fault, ca_bundle_path

from .timezones import from_graph, parse_instant, to_graph_utc

GRAPH_PREFIX = "/v1.0"
MAX_BATCH = 20
MAX_SUBSCRIPTION_MINUTES = 10080
VALIDATION_TIMEOUT = 10.0
#: Graph gives up on a notification endpoint that takes longer than this to answer.
NOTIFICATION_DEADLINE = 3.0
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
NOT_OK = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."
THROTTLE_BODY = {
    "error": {
        "code": "TooManyRequests",
        "innerError": {"code": "429", "message": "Please retry after", "status": "429"},
        "message": "Please retry again later.",
    }
}

GraphHandler = Callable[[FakeRequest, str], FakeResponse]


# --------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------


@dataclass
class FakeTenant:
    id: str
    consented: bool = True
    #: False simulates a rotated/expired secret for this tenant only.
    secret_valid: bool = True


@dataclass
class ConsentOutcome:
    """What the next admin-consent redirect carries. Build with the class methods."""

    tenant_id: str | None = None
    error: str | None = None
    error_description: str = ""
    #: Entra's quirk: ``admin_consent=True`` alongside ``error`` on some failures.
    admin_consent_with_error: bool = False

    @classmethod
    def granted(cls, tenant_id: str | None = None) -> ConsentOutcome:
        return cls(tenant_id=tenant_id)

    @classmethod
    def denied(cls) -> ConsentOutcome:
        return cls(error="access_denied", error_description="AADSTS65004: User declined to consent to access the app.")

    @classmethod
    def failed_with_admin_consent(cls, tenant_id: str | None = None) -> ConsentOutcome:
        description = "AADSTS650051: Using application 'spaces-calendar' is currently not supported."
        return cls(tenant_id, "invalid_request", description, admin_consent_with_error=True)


@dataclass
class FakeSubscription:
    id: str
    tenant_id: str
    room: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str
    expires_at: datetime

    def as_json(self, application_id: str) -> dict[str, Any]:
        data = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": application_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "expirationDateTime": to_graph_utc(self.expires_at),
            "creatorId": application_id,
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": "application/json",
        }
        if self.lifecycle_url:
            data["lifecycleNotificationUrl"] = self.lifecycle_url
        return data


@dataclass
class _DeltaState:
    room: str
    start: datetime
    end: datetime
    seq: int


@dataclass
class _Pages:
    tenant_id: str
    path: str
    items: list[dict[str, Any]]
    tail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _BatchThrottle:
    path: str
    retry_after: str
    remaining: int
    status: int = 429


# --------------------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------------------


def entra_error(status: int, error: str, code: int, text: str) -> FakeResponse:
    """Entra's token-endpoint error JSON (https://learn.microsoft.com/entra/identity-platform/reference-error-codes)."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return FakeResponse.json(body, status)


def _invalid_user(room: str) -> FakeResponse:
    return graph_error(404, "ErrorInvalidUser", f"The requested user '{room}' is invalid.")


def graph_error(status: int, code: str, message: str) -> FakeResponse:
    """Graph's error JSON (https://learn.microsoft.com/graph/errors)."""
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}
    return FakeResponse.json({"error": {"code": code, "message": message, "innerError": inner}}, status)


def _graph_time(moment: datetime) -> str:
    """A naive Graph ``dateTime`` with 7 fractional digits."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


# --------------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------------


class FakeMicrosoft:
    """Entra login + Graph for tests and the sandbox. ``tenant_id`` is a consented tenant created up front."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 (a fake's secret)
        tenant_id: str = "",
        login_port: int = 0,
        graph_port: int = 0,
        consent_port: int | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        # Port 0 (tests) picks a free port; the sandbox uses fixed ones the app's settings point at.
        self.login = FakeServer(tls=True, name="microsoft-login", port=login_port)
        self.graph = FakeServer(tls=True, name="microsoft-graph", port=graph_port)
        # The sandbox's browser-facing consent page over plain http: a person's browser does not trust the test CA
        # (msal, which does, keeps using the TLS login server).
        self.consent = None if consent_port is None else FakeServer(name="microsoft-consent", port=consent_port)
        self.tenants: dict[str, FakeTenant] = {}
        self.rooms: dict[str, dict[str, Any]] = {}
        self.room_tenants: dict[str, str] = {}
        #: Rooms Places leaves out (see ``add_room(hidden=True)``).
        self.hidden_rooms: set[str] = set()
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        self.subscriptions: dict[str, FakeSubscription] = {}
        self.token_lifetime = 3599
        self.rooms_page_size = 100
        self.events_page_size = 10
        #: The most a ``Prefer: odata.maxpagesize`` can get; the server has the last word on page sizes.
        self.max_page_size = 1000
        self.next_consent: ConsentOutcome = ConsentOutcome.granted()
        #: Validation requests sent to notification URLs: (url, token, status, answer).
        self.validations: list[tuple[str, str, int | None, str]] = []
        #: Inner requests executed by ``$batch``: (method, path with query).
        self.batch_log: list[tuple[str, str]] = []
        self._lock = threading.RLock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._changes: dict[str, dict[str, int]] = {}
        self._seq = 0
        self._delta_tokens: dict[str, _DeltaState] = {}
        self._pages: dict[str, _Pages] = {}
        self._batch_throttles: list[_BatchThrottle] = []
        self._graph_routes: list[tuple[str, re.Pattern[str], GraphHandler]] = []
        self.tenant_id = self.add_tenant(tenant_id or str(uuid.uuid4()))
        self._register_login_routes()
        self._register_graph_routes()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> FakeMicrosoft:
        self.login.start()
        self.graph.start()
        if self.consent is not None:
            self.consent.start()
        return self

    def stop(self) -> None:
        self.login.stop()
        self.graph.stop()
        if self.consent is not None:
            self.consent.stop()

    def __enter__(self) -> FakeMicrosoft:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def login_url(self) -> str:
        return self.login.base_url

    @property
    def consent_url(self) -> str:
        return self.consent.base_url if self.consent is not None else self.login_url

    @property
    def graph_url(self) -> str:
        return self.graph.base_url + GRAPH_PREFIX

    def token_requests(self) -> list[FakeRequest]:
        return self.login.requests_to(r"/[^/]+/oauth2/v2\.0/token", "POST")

    # -- scripting helpers -------------------------------------------------------------------------------

    def add_tenant(self, tenant_id: str | None = None, *, consented: bool = True) -> str:
        tenant_id = tenant_id or str(uuid.uuid4())
        with self._lock:
            self.tenants[tenant_id] = FakeTenant(tenant_id, consented)
        return tenant_id

    def revoke_consent(self, tenant_id: str | None = None) -> None:
        with self._lock:
            self.tenants[tenant_id or self.tenant_id].consented = False

    def expire_tokens(self) -> None:
        """Every issued access token stops working (Graph answers 401 InvalidAuthenticationToken)."""
        with self._lock:
            self._tokens.clear()

    def expire_delta_tokens(self) -> None:
        """Forget every delta/skip token: the next use answers 410 ``syncStateNotFound``."""
        with self._lock:
            self._delta_tokens.clear()
            self._pages.clear()

    def add_room(
        self,
        email: str,
        display_name: str = "",
        capacity: int | str | None = None,
        *,
        tenant_id: str = "",
        hidden: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """A Places ``microsoft.graph.room``; ``capacity`` is kept as given (Graph sometimes sends a string).

        ``hidden`` rooms have a working mailbox (calendarView, delta, subscriptions) but Places does not list
        them, like rooms hidden from the address list or created in the last ~48 hours."""
        room = {
            "id": str(uuid.uuid4()).upper(),
            "emailAddress": email,
            "displayName": display_name or email.split("@")[0],
            "capacity": capacity,
            "building": None,
            "floorNumber": None,
            "isManaged": True,
            "isWheelchairAccessible": False,
            "bookingType": "standard",
            "tags": [],
            **extra,
        }
        with self._lock:
            self.rooms[email.lower()] = room
            self.room_tenants[email.lower()] = tenant_id or self.tenant_id
            self.events.setdefault(email.lower(), {})
            if hidden:
                self.hidden_rooms.add(email.lower())
            else:
                self.hidden_rooms.discard(email.lower())
        return room

    def add_event(
        self,
        room: str,
        subject: str,
        start: str | datetime,
        end: str | datetime,
        *,
        time_zone: str = "UTC",
        **fields: Any,
    ) -> dict[str, Any]:
        """Add an event to a room mailbox. ``start``/``end`` are naive local times in ``time_zone``."""
        event_id = fields.pop("id", None) or "AAMkAD" + secrets.token_urlsafe(24) + "="
        event = {
            "id": event_id,
            "@odata.etag": f'W/"{secrets.token_urlsafe(16)}"',
            "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper(),
            "subject": subject,
            "start": {"dateTime": self._naive(start), "timeZone": time_zone},
            "end": {"dateTime": self._naive(end), "timeZone": time_zone},
            "isAllDay": False,
            "isCancelled": False,
            "sensitivity": "normal",
            "showAs": "busy",
            "type": "singleInstance",
            "seriesMasterId": None,
            "organizer": {"emailAddress": {"name": "Samantha Booth", "address": "samanthab@contoso.com"}},
            "attendees": [],
            **fields,
        }
        with self._lock:
            self.events.setdefault(room.lower(), {})[event_id] = event
            self._touch(room, event_id)
        return dict(event)

    def update_event(self, room: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """Change Graph fields of an event (``start``/``end`` may be naive local datetimes or strings)."""
        with self._lock:
            event = self.events[room.lower()][event_id]
            for name in ("start", "end"):
                if name in fields and not isinstance(fields[name], dict):
                    fields[name] = {"dateTime": self._naive(fields[name]), "timeZone": event[name]["timeZone"]}
            event.update(fields, **{"@odata.etag": f'W/"{secrets.token_urlsafe(16)}"'})
            self._touch(room, event_id)
            return dict(event)

    def delete_event(self, room: str, event_id: str) -> None:
        with self._lock:
            del self.events[room.lower()][event_id]
            self._touch(room, event_id)

    def throttle(self, path_regex: str, retry_after: str = "2.128", times: int = 1, status: int = 429) -> None:
        """The next ``times`` Graph requests to ``path_regex`` (relative to /v1.0) get 429 + Retry-After."""
        fault = Fault(status=status, body=THROTTLE_BODY, retry_after=retry_after)
        self.graph.add_fault(fault, path=GRAPH_PREFIX + path_regex, times=times)

    def throttle_in_batch(self, path_regex: str, retry_after: str = "2.128", times: int = 1, status: int = 429) -> None:
        """Like :meth:`throttle`, for requests inside a ``$batch`` (the batch itself still answers 200)."""
        with self._lock:
            self._batch_throttles.append(_BatchThrottle(path_regex, retry_after, times, status))

    def _touch(self, room: str, event_id: str) -> None:
        self._seq += 1
        self._changes.setdefault(room.lower(), {})[event_id] = self._seq

    @staticmethod
    def _naive(value: str | datetime) -> str:
        return _graph_time(value) if isinstance(value, datetime) else _graph_time(datetime.fromisoformat(value))

    # -- login -------------------------------------------------------------------------------------------

    def _register_login_routes(self) -> None:
        self.login.add_route("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", self._openid)
        self.login.add_route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token)
        self.login.add_route("GET", r"/(?P<tenant>[^/]+)/v2\.0/adminconsent", self._admin_consent)
        if self.consent is not None:
            self.consent.add_route("GET", r"/(?P<tenant>[^/]+)/v2\.0/adminconsent", self._admin_consent)

    def _known_authority(self, tenant: str) -> bool:
        return tenant in ("organizations", "common") or tenant in self.tenants

    def _openid(self, request: FakeRequest) -> FakeResponse:
        tenant = request.params["tenant"]
        if not self._known_authority(tenant):
            return entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.login_url}/{tenant}"
        return FakeResponse.json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{self.login_url}/{tenant}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            }
        )

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = {name: values[0] for name, values in parse_qs(request.text).items()}
        tenant = self.tenants.get(request.params["tenant"])
        if tenant is None:
            return entra_error(400, "invalid_request", 90002, f"Tenant '{request.params['tenant']}' not found.")
        if form.get("grant_type") != "client_credentials":
            return entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id or not tenant.consented:
            text = (
                f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant.id}'."
            )
            return entra_error(400, "unauthorized_client", 700016, text)
        if form.get("client_secret") != self.client_secret or not tenant.secret_valid:
            return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if not form.get("scope", "").endswith("/.default"):
            return entra_error(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (tenant.id, time.time() + self.token_lifetime)
        lifetime = self.token_lifetime
        return FakeResponse.json(
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )

    def _admin_consent(self, request: FakeRequest) -> FakeResponse:
        if request.arg("client_id") != self.client_id or not request.arg("redirect_uri"):
            return FakeResponse.text("AADSTS700016: Application not found in the directory.", 400)
        outcome, self.next_consent = self.next_consent, ConsentOutcome.granted()
        path_tenant = request.params["tenant"]
        tenant_id = outcome.tenant_id or (path_tenant if path_tenant in self.tenants else self.tenant_id)
        params: dict[str, str] = {}
        if outcome.error is None or outcome.admin_consent_with_error:
            params.update(admin_consent="True", tenant=tenant_id, scope=request.arg("scope", "") or "")
        if outcome.error is None:
            with self._lock:
                self.tenants.setdefault(tenant_id, FakeTenant(tenant_id)).consented = True
        else:
            params.update(error=outcome.error, error_description=outcome.error_description)
        if request.arg("state") is not None:
            params["state"] = request.arg("state") or ""
        redirect = request.arg("redirect_uri") or ""
        location = redirect + ("&" if "?" in redirect else "?") + urlencode(params)
        return FakeResponse.empty(302, {"Location": location})

    # -- graph plumbing ----------------------------------------------------------------------------------

    def _graph_route(self, method: str, pattern: str, handler: GraphHandler) -> None:
        compiled = re.compile(GRAPH_PREFIX + pattern)
        self._graph_routes.append((method, compiled, handler))
        self.graph.add_route(method, compiled, lambda request: self._authorised(request, handler))

    def _authorised(self, request: FakeRequest, handler: GraphHandler) -> FakeResponse:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self._lock:
            entry = self._tokens.get(token)
        if not token:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if entry is None or entry[1] < time.time():
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if not self.tenants[entry[0]].consented:
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return handler(request, entry[0])

    def _room_of(self, name: str, tenant_id: str) -> str | None:
        email = unquote(name).lower()
        if email not in self.rooms:
            email = next((key for key, room in self.rooms.items() if room["id"].lower() == email), "")
        return email if email and self.room_tenants.get(email) == tenant_id else None

    def _page(self, request: FakeRequest, pages: _Pages, size: int) -> FakeResponse:
        """The first ``size`` items; the rest kept behind a skiptoken in ``@odata.nextLink``."""
        size = min(self._preferred_page_size(request) or size, self.max_page_size)
        head, rest = pages.items[:size], pages.items[size:]
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)"}
        if rest:
            token = secrets.token_urlsafe(12)
            with self._lock:
                self._pages[token] = _Pages(pages.tenant_id, pages.path, rest, pages.tail)
            body["@odata.nextLink"] = f"{self.graph_url}{pages.path}?$skiptoken={token}"
        else:
            body.update(pages.tail)
        body["value"] = head
        return FakeResponse.json(body)

    def _next_page(self, request: FakeRequest, tenant_id: str, size: int) -> FakeResponse | None:
        token = request.arg("$skiptoken")
        if token is None:
            return None
        with self._lock:
            pages = self._pages.pop(token, None)
        if pages is None or pages.tenant_id != tenant_id:
            return graph_error(410, "syncStateNotFound", "The sync state generation is not found.")
        return self._page(request, pages, size)

    @staticmethod
    def _preferred_page_size(request: FakeRequest) -> int | None:
        match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        top = request.arg("$top")
        return int(match.group(1)) if match else (int(top) if top and top.isdigit() else None)

    def _window(self, request: FakeRequest) -> tuple[datetime, datetime] | FakeResponse:
        start, end = request.arg("startDateTime") or request.arg("startdatetime"), request.arg("endDateTime")
        end = end or request.arg("enddatetime")
        if not start or not end:
            message = (
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime."
            )
            return graph_error(400, "ErrorInvalidParameter", message)
        try:
            return parse_instant(start), parse_instant(end)
        except ValueError:
            return graph_error(400, "ErrorInvalidParameter", "The value of the parameter StartDateTime is invalid.")

    def _in_window(self, room: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        def overlaps(event: dict[str, Any]) -> bool:
            return from_graph(event["start"]) < end and from_graph(event["end"]) > start

        with self._lock:
            events = [dict(event) for event in self.events.get(room, {}).values() if event["type"] != "seriesMaster"]
        return sorted((event for event in events if overlaps(event)), key=lambda event: from_graph(event["start"]))

    # -- graph: places and events ------------------------------------------------------------------------

    def _register_graph_routes(self) -> None:
        self._graph_route("GET", r"/places/microsoft\.graph\.room", self._list_rooms)
        self._graph_route("GET", r"/users/(?P<room>[^/]+)/calendarView", self._calendar_view)
        self._graph_route("GET", r"/users/(?P<room>[^/]+)/calendarView/delta", self._calendar_delta)
        self._graph_route("POST", r"/\$batch", self._batch)
        self._graph_route("GET", r"/subscriptions", self._list_subscriptions)
        self._graph_route("POST", r"/subscriptions", self._create_subscription)
        self._graph_route("PATCH", r"/subscriptions/(?P<id>[^/]+)", self._renew_subscription)
        self._graph_route("DELETE", r"/subscriptions/(?P<id>[^/]+)", self._delete_subscription)

    def _list_rooms(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        with self._lock:
            rooms = [dict(room) for email, room in sorted(self.rooms.items())
                     if self.room_tenants[email] == tenant_id and email not in self.hidden_rooms]
        top = int(request.arg("$top") or self.rooms_page_size)
        skip = int(request.arg("$skip") or 0)
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#places/microsoft.graph.room"
        }
        if skip + top < len(rooms):
            body["@odata.nextLink"] = f"{self.graph_url}/places/microsoft.graph.room?$top={top}&$skip={skip + top}"
        body["value"] = rooms[skip : skip + top]
        return FakeResponse.json(body)

    def _calendar_view(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        room = self._room_of(request.params["room"], tenant_id)
        if room is None:
            return _invalid_user(request.params["room"])
        page = self._next_page(request, tenant_id, self.events_page_size)
        if page is not None:
            return page
        window = self._window(request)
        if isinstance(window, FakeResponse):
            return window
        pages = _Pages(tenant_id, f"/users/{room}/calendarView", self._in_window(room, *window))
        return self._page(request, pages, self.events_page_size)

    def _calendar_delta(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        room = self._room_of(request.params["room"], tenant_id)
        if room is None:
            return _invalid_user(request.params["room"])
        page = self._next_page(request, tenant_id, self.events_page_size)
        if page is not None:
            return page
        delta_token = request.arg("$deltatoken")
        if delta_token is not None:
            with self._lock:
                state = self._delta_tokens.get(delta_token)
            if state is None or state.room != room:
                return graph_error(410, "syncStateNotFound", "The sync state generation is not found.")
            items = self._changes_since(state)
        else:
            window = self._window(request)
            if isinstance(window, FakeResponse):
                return window
            state = _DeltaState(room, *window, seq=0)
            items = self._in_window(room, *window)
        with self._lock:
            token = secrets.token_urlsafe(12)
            self._delta_tokens[token] = _DeltaState(room, state.start, state.end, self._seq)
        path = f"/users/{room}/calendarView/delta"
        tail = {"@odata.deltaLink": f"{self.graph_url}{path}?$deltatoken={token}"}
        typed = [{"@odata.type": "#microsoft.graph.event", **item} for item in items]
        return self._page(request, _Pages(tenant_id, path, typed, tail), self.events_page_size)

    def _changes_since(self, state: _DeltaState) -> list[dict[str, Any]]:
        with self._lock:
            changed = [event_id for event_id, seq in self._changes.get(state.room, {}).items() if seq > state.seq]
        current = {event["id"]: event for event in self._in_window(state.room, state.start, state.end)}
        return [current.get(event_id) or {"id": event_id, "@removed": {"reason": "deleted"}} for event_id in changed]

    # -- graph: $batch -----------------------------------------------------------------------------------

    def _batch(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        try:
            inner = request.json()["requests"]
        except (ValueError, KeyError, TypeError):
            return graph_error(400, "BadRequest", "Invalid batch payload format.")
        if len(inner) > MAX_BATCH:
            return graph_error(400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.")
        answers = [self._batch_item(request, item) for item in inner]
        return FakeResponse.json({"responses": list(reversed(answers))})  # order is not guaranteed: prove it

    def _batch_item(self, outer: FakeRequest, item: dict[str, Any]) -> dict[str, Any]:
        split = urlsplit("/" + str(item.get("url", "")).lstrip("/"))
        method = str(item.get("method", "GET")).upper()
        with self._lock:
            self.batch_log.append((method, split.path + (f"?{split.query}" if split.query else "")))
        throttled = self._take_batch_throttle(split.path)
        if throttled is not None:
            headers = {"Retry-After": throttled.retry_after, "Content-Type": "application/json"}
            body = THROTTLE_BODY if throttled.status in (429, 503) else {
                "error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}
            }
            return {"id": item.get("id"), "status": throttled.status, "headers": headers, "body": body}
        response = self._run_inner(outer, method, split.path, split.query, item)
        body: Any = response.body
        if isinstance(body, bytes) and body:
            body = json.loads(body)
        headers = {"Content-Type": response.headers.get("Content-Type", "application/json")}
        return {"id": item.get("id"), "status": response.status, "headers": headers, "body": body or None}

    def _take_batch_throttle(self, path: str) -> _BatchThrottle | None:
        with self._lock:
            for throttle in self._batch_throttles:
                if re.fullmatch(throttle.path, path):
                    throttle.remaining -= 1
                    if throttle.remaining == 0:
                        self._batch_throttles.remove(throttle)
                    return throttle
        return None

    def _run_inner(self, outer: FakeRequest, method: str, path: str, query: str, item: dict[str, Any]) -> FakeResponse:
        full_path = GRAPH_PREFIX + path
        for route_method, pattern, handler in reversed(self._graph_routes):
            match = pattern.fullmatch(full_path)
            if match is None or route_method != method:
                continue
            headers = outer.headers.copy()
            headers.update(item.get("headers") or {})
            body = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
            inner = FakeRequest(
                method,
                full_path,
                parse_qs(query, keep_blank_values=True),
                headers,
                body,
                time.time(),
                time.monotonic(),
                match,
            )
            return self._authorised(inner, handler)
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{path.strip('/').split('/')[0]}'.")

    # -- graph: subscriptions ----------------------------------------------------------------------------

    def _list_subscriptions(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        with self._lock:
            values = [sub.as_json(self.client_id) for sub in self.subscriptions.values() if sub.tenant_id == tenant_id]
        return FakeResponse.json(
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions", "value": values}
        )

    def _create_subscription(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        try:
            data = request.json()
        except ValueError:
            return graph_error(400, "InvalidRequest", "Could not parse the request body.")
        problem = self._subscription_problem(data, tenant_id)
        if problem:
            return graph_error(400, "InvalidRequest", problem)
        urls = [data["notificationUrl"]] + (
            [data["lifecycleNotificationUrl"]] if data.get("lifecycleNotificationUrl") else []
        )
        for url in urls:
            failure = self._validate_endpoint(url)
            if failure:
                return graph_error(400, "ValidationError", failure)
        room = re.fullmatch(r"/?users/([^/]+)/events", data["resource"], re.IGNORECASE).group(1)  # type: ignore[union-attr]
        subscription = FakeSubscription(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            room=self._room_of(room, tenant_id) or room.lower(),
            resource=data["resource"],
            change_type=data["changeType"],
            notification_url=data["notificationUrl"],
            lifecycle_url=data.get("lifecycleNotificationUrl"),
            client_state=data.get("clientState") or "",
            expires_at=parse_instant(data["expirationDateTime"]),
        )
        with self._lock:
            self.subscriptions[subscription.id] = subscription
        return FakeResponse.json(subscription.as_json(self.client_id), 201)

    def _subscription_problem(self, data: Any, tenant_id: str) -> str:
        if not isinstance(data, dict):
            return "The request body must be a JSON object."
        change_types = set(str(data.get("changeType") or "").split(","))
        if not change_types or not change_types <= CHANGE_TYPES:
            return f"Invalid 'changeType' attribute: '{data.get('changeType')}'."
        match = re.fullmatch(r"/?users/([^/]+)/events", str(data.get("resource") or ""), re.IGNORECASE)
        if match is None or self._room_of(match.group(1), tenant_id) is None:
            return f"Resource '{data.get('resource')}' is not supported or its mailbox was not found."
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if (key == "notificationUrl" or data.get(key)) and not _acceptable_url(str(data.get(key) or "")):
                return f"Invalid '{key}': it must be an https URL."
        if len(str(data.get("clientState") or "")) > 128:
            return "clientState must not exceed 128 characters."
        return self._expiry_problem(data.get("expirationDateTime"))

    @staticmethod
    def _expiry_problem(value: Any) -> str:
        try:
            expires = parse_instant(str(value))
        except ValueError:
            return "Invalid 'expirationDateTime'."
        now = datetime.now(UTC)
        if expires <= now:
            return "Subscription expiration must be in the future."
        if expires > now + timedelta(minutes=MAX_SUBSCRIPTION_MINUTES, seconds=60):
            return f"Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
        return ""

    def _validate_endpoint(self, url: str) -> str:
        """Graph's handshake: POST ``?validationToken=`` and expect the decoded token back as text/plain."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        target = url + ("&" if "?" in url else "?") + "validationToken=" + quote(token, safe="")
        try:
            answer = requests.post(
                target,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=VALIDATION_TIMEOUT,
                verify=ca_bundle_path(),
            )
        except requests.RequestException as error:
            self.validations.append((url, token, None, type(error).__name__))
            return NOT_OK
        self.validations.append((url, token, answer.status_code, answer.text))
        if answer.status_code != 200:
            return NOT_OK
        if not answer.headers.get("Content-Type", "").startswith("text/plain") or answer.text != token:
            return (
                "Subscription validation request failed. Response must exactly match validationToken query parameter."
            )
        return ""

    def _owned_subscription(self, request: FakeRequest, tenant_id: str) -> FakeSubscription | None:
        with self._lock:
            subscription = self.subscriptions.get(request.params["id"])
        return subscription if subscription is not None and subscription.tenant_id == tenant_id else None

    def _renew_subscription(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        subscription = self._owned_subscription(request, tenant_id)
        if subscription is None:
            return graph_error(404, "ResourceNotFound", f"The object '{request.params['id']}' was not found.")
        value = (request.json() or {}).get("expirationDateTime")
        problem = self._expiry_problem(value)
        if problem:
            return graph_error(400, "InvalidRequest", problem)
        with self._lock:
            subscription.expires_at = parse_instant(str(value))
        return FakeResponse.json(subscription.as_json(self.client_id))

    def _delete_subscription(self, request: FakeRequest, tenant_id: str) -> FakeResponse:
        subscription = self._owned_subscription(request, tenant_id)
        if subscription is None:
            return graph_error(404, "ResourceNotFound", f"The object '{request.params['id']}' was not found.")
        with self._lock:
            self.subscriptions.pop(subscription.id, None)
        return FakeResponse.empty(204)

    # -- calling our app back ----------------------------------------------------------------------------

    def subscription_for(self, room: str) -> FakeSubscription:
        with self._lock:
            found = [sub for sub in self.subscriptions.values() if sub.room == room.lower()]
        if len(found) != 1:
            raise LookupError(f"{len(found)} subscriptions for {room}; pass subscription_id")
        return found[0]

    def notify(self, room: str, change_type: str, event_id: str, *, subscription_id: str | None = None) -> int:
        """POST a change notification for an event to the subscription's URL; return our app's HTTP status."""
        sub = self.subscriptions[subscription_id] if subscription_id else self.subscription_for(room)
        resource = f"Users/{self.rooms.get(sub.room, {}).get('id', sub.room)}/Events/{event_id}"
        item = {
            "id": secrets.token_urlsafe(10),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            + "Z",
            "clientState": sub.client_state,
            "changeType": change_type,
            "resource": resource,
            "tenantId": sub.tenant_id,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": resource,
                "@odata.etag": f'W/"{secrets.token_urlsafe(16)}"',
                "id": event_id,
            },
        }
        return self._deliver(sub.notification_url, {"value": [item]})

    def lifecycle(self, subscription_id: str, event: str) -> int:
        """POST a lifecycle notification to the subscription's lifecycle URL; return our app's HTTP status."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        with self._lock:
            sub = self.subscriptions[subscription_id]
            if event == "subscriptionRemoved":
                del self.subscriptions[subscription_id]
        if not sub.lifecycle_url:
            raise ValueError("the subscription has no lifecycleNotificationUrl")
        item = {
            "lifecycleEvent": event,
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            + "0+00:00",
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
        }
        return self._deliver(sub.lifecycle_url, {"value": [item]})

    @staticmethod
    def _deliver(url: str, payload: dict[str, Any]) -> int:
        response = requests.post(url, json=payload, timeout=(5.0, NOTIFICATION_DEADLINE), verify=ca_bundle_path())
        return response.status_code


def _acceptable_url(url: str) -> bool:
    """https anywhere; plain http only to the loopback (fine for a fake, never for Graph)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"))
