"""Microsoft 365 as the rest of the app sees it: its Integrations tile, its URLs, its calendars and its sandbox.

Registered in ``settings.CALENDAR_PROVIDERS``; read through :mod:`spaces_calendar.calendars.registry`. Kept free of
heavy imports: the root URLconf and the Integrations page load it.
"""

from __future__ import annotations

from django.conf import settings

from spaces_calendar.calendars.models import Provider
from spaces_calendar.calendars.registry import ProviderPackage


def _configured() -> bool:
    return bool(settings.MICROSOFT_CLIENT_ID)


MICROSOFT = ProviderPackage(
    key=Provider.MICROSOFT.value,
    title="Office 365",
    tile_text="Room mailboxes from Microsoft 365: an Entra admin consents once for the whole organisation.",
    account_label="Directory (tenant) id",
    connect_url="microsoft-connect",
    urls="spaces_calendar.providers.microsoft.urls",
    calendar="spaces_calendar.providers.microsoft.calendar.MicrosoftCalendars",
    is_configured=_configured,
    sandbox="spaces_calendar.providers.microsoft.sandbox.PIECES",
)
