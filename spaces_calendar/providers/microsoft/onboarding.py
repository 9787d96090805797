"""Microsoft 365 tenant admin consent: the consent URL, and proving the callback before trusting it.

https://learn.microsoft.com/entra/identity-platform/v2-admin-consent
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from spaces_calendar.calendars.connections import resume_connection
from spaces_calendar.calendars.models import CalendarConnection, ConnectionStatus, Provider
from spaces_calendar.core.http import OutboundError
from spaces_calendar.core.models import Tenant
from spaces_calendar.providers.errors import ConsentRevoked
from spaces_calendar.providers.microsoft.client import GraphClient, acquire_token

logger = logging.getLogger(__name__)
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
_TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class ConsentOutcome:
    ok: bool
    message: str
    connection: CalendarConnection | None = None


def admin_consent_url(redirect_uri: str, state: str) -> str:
    query = urlencode(
        {
            "client_id": settings.MICROSOFT_CLIENT_ID,
            "scope": GRAPH_DEFAULT_SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    consent = settings.MICROSOFT_CONSENT_URL or settings.MICROSOFT_LOGIN_URL
    return f"{consent.rstrip('/')}/organizations/v2.0/adminconsent?{query}"


def complete_admin_consent(tenant: Tenant, params: Mapping[str, str]) -> ConsentOutcome:
    """Handle the callback's parameters (state already checked). Branches on ``error`` first: Entra can send
    ``admin_consent=True`` on the error path too."""
    if params.get("error"):
        return _refused(params["error"], params.get("error_description", ""))
    external_id = params.get("tenant", "")
    if params.get("admin_consent", "").lower() != "true" or not _TENANT_ID.match(external_id):
        return ConsentOutcome(False, "Microsoft's answer was incomplete (no consent or no tenant id). Try again.")
    taken = CalendarConnection.objects.filter(provider=Provider.MICROSOFT, external_tenant_id=external_id)
    if taken.exclude(tenant=tenant).exists():
        logger.warning("consent for Entra tenant %s refused: already connected to another tenant", external_id)
        return ConsentOutcome(False, "This Microsoft 365 tenant is already connected to another organisation here.")
    try:
        acquire_token(external_id)
        rooms = GraphClient(external_id).list_rooms()
    except ConsentRevoked as exc:
        return ConsentOutcome(
            False,
            "Microsoft has not granted access yet (consent can take a few minutes to "
            f"take effect). Try again shortly. Microsoft said: {exc.reason}.",
        )
    except OutboundError as exc:
        logger.warning("could not verify consent for %s: %s", external_id, exc)
        return ConsentOutcome(False, "Microsoft could not be reached to confirm the consent. Try again later.")
    connection = _activate(tenant, external_id)
    return ConsentOutcome(True, f"Microsoft 365 connected: {len(rooms)} room(s) found.", connection)


@transaction.atomic
def _activate(tenant: Tenant, external_id: str) -> CalendarConnection:
    connection, _ = CalendarConnection.objects.select_for_update().get_or_create(
        tenant=tenant, provider=Provider.MICROSOFT
    )
    now = timezone.now()
    connection.external_tenant_id = external_id
    connection.status = ConnectionStatus.ACTIVE
    connection.status_reason = ""
    connection.consented_at = now
    connection.last_error = ""
    connection.save()
    resume_connection(connection)  # a reconnect picks up the existing links: full sync, fresh subscriptions
    return connection


def _refused(error: str, description: str) -> ConsentOutcome:
    logger.info("admin consent returned error %s", error)
    if error == "access_denied":
        return ConsentOutcome(False, "The consent was declined or cancelled, so nothing was connected.")
    # Entra descriptions start with an AADSTS code and carry trace ids after the first line: show the first line.
    first_line = description.strip().splitlines()[0][:300] if description.strip() else error
    return ConsentOutcome(False, f"Microsoft refused the consent: {first_line}")
