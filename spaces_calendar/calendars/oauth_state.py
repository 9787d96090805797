"""Single-use OAuth ``state`` values, bound to the admin's session, user and tenant.

A callback whose state is missing, replayed, expired or issued to another session or tenant is refused: that is
what stops a forged callback from attaching someone else's calendars to a tenant.
"""

from __future__ import annotations

import secrets
import time

SESSION_KEY = "oauth_states"
MAX_AGE_S = 15 * 60


class InvalidState(Exception):
    """The callback's state cannot be trusted; the message is fit to show the admin."""


def issue_state(request, *, provider: str, tenant_id: int) -> str:
    states = _fresh(request.session.get(SESSION_KEY, {}))
    token = secrets.token_urlsafe(32)
    states[token] = {"provider": provider, "tenant_id": tenant_id, "user_id": request.user.pk, "issued": time.time()}
    request.session[SESSION_KEY] = states
    return token


def consume_state(request, *, provider: str, token: str | None) -> int:
    """Pop the state and return the tenant id it was issued for, or raise InvalidState."""
    states = request.session.get(SESSION_KEY, {})
    entry = states.pop(token, None) if token else None
    request.session[SESSION_KEY] = _fresh(states)
    if entry is None:
        raise InvalidState("This sign-in link was already used, has expired, or was started in another browser. "
                           "Start again from the Integrations page.")
    if time.time() - entry["issued"] > MAX_AGE_S:
        raise InvalidState("This sign-in took too long and has expired. Start again from the Integrations page.")
    if entry["provider"] != provider or entry["user_id"] != request.user.pk:
        raise InvalidState("This sign-in was started for another integration or user. Start again.")
    return entry["tenant_id"]


def _fresh(states: dict) -> dict:
    now = time.time()
    return {token: entry for token, entry in states.items() if now - entry["issued"] <= MAX_AGE_S}
