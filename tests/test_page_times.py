"""Times on the admin pages are in the tenant's time zone and say so (the guide: every time shown says its zone
when it is not the viewer's), and every page's favicon request is answered instead of logging a 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from occupancy.kiosk import tokens
from occupancy.kiosk.models import KioskToken
from spaces_calendar.calendars.models import CalendarConnection, ConnectionStatus, Provider
from spaces_calendar.core.models import Role
from tests.factories import make_room, make_tenant, make_user

pytestmark = pytest.mark.django_db


def a_recent_utc_moment() -> datetime:
    """Today, a whole minute, at a moment whose local time differs from UTC in New York."""
    return timezone.now().astimezone(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture
def admin_in_new_york(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tenant = make_tenant("Acme")
    tenant.time_zone = "America/New_York"
    tenant.save()
    client.force_login(make_user(tenant, Role.ADMIN))
    return tenant


def shown(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def test_the_integrations_page_shows_sync_times_in_the_tenants_zone_and_names_it(client, admin_in_new_york):
    synced = a_recent_utc_moment()
    CalendarConnection.objects.create(tenant=admin_in_new_york, provider=Provider.MICROSOFT,
                                      status=ConnectionStatus.ACTIVE, last_synced_at=synced,
                                      token_expires_at=synced + timedelta(hours=1))

    page = client.get(reverse("integrations")).text

    assert shown(synced, "America/New_York") in page
    assert shown(synced + timedelta(hours=1), "America/New_York") in page
    assert shown(synced, "UTC") not in page
    assert "America/New_York" in page


def test_the_kiosk_tokens_page_shows_times_in_the_tenants_zone_and_names_it(client, admin_in_new_york):
    room = make_room(admin_in_new_york, "Fjord")
    token, _raw = tokens.issue_token(admin_in_new_york, "Lobby", rooms=[room])
    used = a_recent_utc_moment()
    KioskToken.objects.filter(pk=token.pk).update(last_used_at=used)
    token.refresh_from_db()

    page = client.get(reverse("kiosk-tokens")).text

    assert shown(token.created_at, "America/New_York") in page
    assert shown(used, "America/New_York") in page and shown(used, "UTC") not in page
    assert "America/New_York" in page


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == b"\0\0\1\0"
