"""The provider registry: the Integrations page, the URLconf and the engine learn every provider from its package's
metadata, and a registration that does not name its package's metadata fails loudly."""

from __future__ import annotations

import pytest
from django.urls import reverse

from spaces_calendar.calendars import registry
from spaces_calendar.calendars.models import CalendarConnection, ConnectionStatus, Provider
from spaces_calendar.calendars.registry import ProviderPackage
from spaces_calendar.calendars.remote import provider_for
from spaces_calendar.core.models import Role
from spaces_calendar.providers.microsoft.calendar import MicrosoftCalendars
from tests.factories import make_user

pytestmark = pytest.mark.django_db

#: A second provider as a package would declare it (its connect URL borrowed: the URLconf is loaded once).
GOOGLE = ProviderPackage(
    key=Provider.GOOGLE.value, title="Google Calendar", tile_text="Resource calendars from Google Workspace.",
    account_label="Workspace customer id", connect_url="microsoft-connect",
    urls="spaces_calendar.providers.microsoft.urls",
    calendar="spaces_calendar.providers.microsoft.calendar.MicrosoftCalendars", is_configured=lambda: False,
)


@pytest.fixture
def admin_client(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))
    return client


def test_every_registered_provider_gets_a_tile_from_its_metadata(admin_client, two_tenants, settings):
    settings.CALENDAR_PROVIDERS = {**settings.CALENDAR_PROVIDERS, "google": f"{__name__}.GOOGLE"}
    settings.MICROSOFT_CLIENT_ID = "configured"
    CalendarConnection.objects.create(tenant=two_tenants["acme"], provider="microsoft", external_tenant_id="t-1",
                                      status=ConnectionStatus.ACTIVE)

    page = admin_client.get(reverse("integrations")).text

    microsoft, google = page.split('data-provider="microsoft"')[1], page.split('data-provider="google"')[1]
    microsoft = microsoft.split("</section>")[0]
    google = google.split("</section>")[0]
    assert "Office 365" in microsoft and "Directory (tenant) id" in microsoft and "t-1" in microsoft
    assert 'href="/integrations/microsoft/connect"' in microsoft and "Reconnect" in microsoft
    assert "Google Calendar" in google and "Resource calendars from Google Workspace." in google
    assert "Not connected." in google and "Not configured on this server." in google


def test_an_unregistered_provider_has_no_tile_and_no_rooms_pages(admin_client, settings):
    settings.CALENDAR_PROVIDERS = {}

    assert 'data-provider="microsoft"' not in admin_client.get(reverse("integrations")).text
    assert admin_client.get("/integrations/microsoft/rooms/").status_code == 404


def test_each_providers_own_urls_keep_their_paths_and_names():
    assert [reverse(name) for name in ("microsoft-connect", "microsoft-callback", "microsoft-notifications",
                                       "microsoft-lifecycle")] == [
        "/integrations/microsoft/connect", "/integrations/microsoft/callback",
        "/webhooks/microsoft/notifications", "/webhooks/microsoft/lifecycle"]


def test_the_engine_gets_one_calendar_provider_per_registered_package():
    assert isinstance(provider_for("microsoft"), MicrosoftCalendars)
    assert provider_for("microsoft") is provider_for("microsoft")
    with pytest.raises(LookupError):
        provider_for("webex")


def test_a_registration_that_names_another_providers_metadata_fails_loudly(settings):
    settings.CALENDAR_PROVIDERS = {"google": "spaces_calendar.providers.microsoft.provider.MICROSOFT"}

    with pytest.raises(LookupError, match="not the ProviderPackage of 'google'"):
        registry.registered()
