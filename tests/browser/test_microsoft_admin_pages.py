"""An admin connects Office 365, discovers rooms, links them and unlinks one, in a real Chromium."""

from __future__ import annotations

import re

import pytest

from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, ConnectionStatus
from spaces_calendar.core.models import Role
from tests.factories import make_room, make_tenant, make_user

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake(fake_microsoft_for_browser):
    return fake_microsoft_for_browser


def test_an_admin_connects_discovers_links_and_unlinks_rooms(page, fake, live_server):
    tenant = make_tenant("Contoso")
    other = make_tenant("Elsewhere")
    fjord = make_room(tenant, "Fjord", capacity=12)
    glacier = make_room(tenant, "Glacier", capacity=6)
    make_room(other, "Not yours")
    fake.add_room("fjord.room@contoso.example", "Fjord", capacity="12")
    fake.add_room("glacier-room@contoso.example", "HQ-2-Glacier Meeting Room", capacity=6)
    fake.add_room("annex@contoso.example", "Annex", capacity=4, hidden=True)
    admin = make_user(tenant, Role.ADMIN)
    log_in(page, live_server.url, admin.username, next_path="/integrations/")

    # Consent: Connect → Microsoft's (fake) consent page → back to our callback, which proves the tenant.
    tile = page.locator("section[data-provider=microsoft]")
    tile.get_by_role("link", name="Connect").click()
    page.wait_for_url(re.compile(r"/integrations/microsoft/callback"))
    assert "Microsoft 365 connected: 2 room(s) found." in page.content()
    assert CalendarConnection.objects.get(tenant=tenant).status == ConnectionStatus.ACTIVE

    page.goto(f"{live_server.url}/integrations/")
    assert "Active" in tile.locator("[data-testid=status]").inner_text()
    tile.locator("[data-action=rooms]").click()

    # Discovery, and the rooms Places does not list.
    page.click("[data-action=refresh]")
    assert "2" in page.locator("[data-message]").first.inner_text()
    page.fill("#add-email", "annex@contoso.example")
    page.click("[data-action=add]")
    page.fill("#add-email", "nobody@contoso.example")
    page.click("[data-action=add]")
    assert "nobody@contoso.example" in page.locator("[data-message=error]").first.inner_text()

    # Name matching preselects each room's calendar, even through prefixes and filler words.
    assert page.locator(f"#calendar-{fjord.pk} option:checked").inner_text().startswith("Fjord")
    assert "Glacier" in page.locator(f"#calendar-{glacier.pk} option:checked").inner_text()
    assert "Not yours" not in page.content()
    page.click("[data-action=link-suggested]")
    assert page.locator(f"#room-{fjord.pk}").get_attribute("data-linked") == "true"
    assert page.locator(f"#room-{glacier.pk}").get_attribute("data-linked") == "true"
    assert dict(CalendarLink.objects.values_list("room__name", "external_calendar_id")) == {
        "Fjord": "fjord.room@contoso.example", "Glacier": "glacier-room@contoso.example"}
    assert page.locator("[data-calendar]").filter(has_text="annex@contoso.example").count() == 1

    # Unlink one; its calendar becomes available again.
    page.click(f"#room-{glacier.pk} [data-action=unlink]")
    assert page.locator(f"#room-{glacier.pk}").get_attribute("data-linked") == "false"
    assert list(CalendarLink.objects.values_list("room__name", flat=True)) == ["Fjord"]
    page.screenshot(path=str(live_server_screenshot()))


def live_server_screenshot():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "microsoft-rooms.png"
