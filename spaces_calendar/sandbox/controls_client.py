"""The app's side of the fake Cisco Spaces' sandbox controls: an activation token on request, and what the fake holds.

Goes through the outbound seam like any provider call (timeouts, the sandbox CA through ``OUTBOUND_CA_BUNDLE``).
The Spaces controls are on ``SANDBOX_SPACES_URL``. (A calendar provider's controls are its own package's
``sandbox_page``, found through the registry.)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from spaces_calendar.core import http
from spaces_calendar.sandbox import spaces_controls


@dataclass(frozen=True)
class SpacesToken:
    token: str
    expires_in: int
    #: The fake's base URL, which the token names: where the activation and the Firehose go.
    base_url: str


@dataclass(frozen=True)
class SpacesState:
    base_url: str
    app_id: str
    spaces_tenant_id: str
    #: Events the fake Firehose holds (the last hours it replays, changes as they are published).
    events: int
    #: Stream connections made so far (one per receiver start or reconnect).
    connections: int
    active_keys: int


def issue_spaces_token() -> SpacesToken:
    """A fresh activation token, as an admin generates one in Cisco Spaces. Not retried: each call makes one."""
    body = http.send(http.build_session(), "POST", _spaces_url("activation-token"), max_retries=0).json()
    return SpacesToken(str(body["token"]), int(body["expires_in"]), str(body["base_url"]))


def fetch_spaces_state() -> SpacesState:
    body = http.send(http.build_session(), "GET", _spaces_url("state"), max_retries=0).json()
    return SpacesState(str(body["base_url"]), str(body["app_id"]), str(body["spaces_tenant_id"]), int(body["events"]),
                       int(body["connections"]), int(body["active_keys"]))


def _spaces_url(action: str) -> str:
    return f"{settings.SANDBOX_SPACES_URL.rstrip('/')}{spaces_controls.CONTROL_PREFIX}/{action}"
