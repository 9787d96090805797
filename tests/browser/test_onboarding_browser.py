"""A brand-new admin on a real install (no sandbox) gets from first sign-in to a report without the Django admin:
create the workplace, connect Office 365, import and link the rooms, map the sensors, open the ghost-bookings report.

Real Chromium against the live server, so every form is submitted by its button and CSRF is checked for real.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from occupancy import intake, sensors
from occupancy.models import OccupancySignal, PendingSignal
from spaces_calendar.calendars.models import CalendarLink, ConnectionStatus
from spaces_calendar.core.models import Building, Membership, Role, Room, Tenant

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"


@pytest.fixture
def fake(settings, fake_microsoft_for_browser):
    """A non-sandbox configuration with Microsoft pointed at the fake."""
    settings.SANDBOX = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return fake_microsoft_for_browser


@pytest.fixture
def oslo_page(browser):
    """A browser in Oslo: the workplace form should default to the browser's zone."""
    context = browser.new_context(timezone_id="Europe/Oslo")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def stream_reports(tenant: Tenant) -> None:
    """What the Firehose would leave for three Spaces locations nobody has mapped yet: their catalogue entries and
    a few readings kept for them (pending)."""
    now = timezone.now()
    with transaction.atomic():
        sensors.note_seen([
            sensors.Seen(tenant.pk, "spaces_location", f"loc-{name.lower()}", name, f"Contoso Oslo / {where} / {name}",
                         "ZONE", time_zone="Europe/Oslo", signal_source="spaces_camera")
            for name, where in [("Fjord", "HQ / Floor 3"), ("Glacier", "HQ / Floor 3"), ("Harbour", "Annex")]])
        intake.record([
            intake.Signal(intake.RoomKey(tenant.pk, "spaces_location", f"loc-{name}"), "spaces_camera",
                          now - timedelta(minutes=minutes), present=people > 0, people_count=people)
            for name, minutes, people in [("fjord", 30, 4), ("fjord", 5, 0), ("glacier", 20, 2)]])


def test_a_new_admin_goes_from_first_sign_in_to_a_report_without_the_django_admin(oslo_page, fake, live_server):
    page = oslo_page
    # The first admin of a self-hosted install: the superuser `manage.py up` creates, member of nothing.
    get_user_model().objects.create_superuser("admin", password=PASSWORD)
    fake.add_room("fjord@contoso.example", "Fjord", capacity="12", building="HQ", floorNumber=3)
    fake.add_room("glacier@contoso.example", "Glacier", capacity=6, building="HQ", floorNumber=3)
    fake.add_room("harbour@contoso.example", "Harbour", capacity=4)  # Places gives it no building or floor

    # Sign in, create the workplace.
    log_in(page, live_server.url, "admin", PASSWORD)
    page.click("#start-workplace")
    assert page.input_value("#id_time_zone") == "Europe/Oslo"
    page.fill("#id_name", "Contoso Oslo")
    page.click("#create-workplace")
    page.wait_for_url(re.compile(r"/integrations/$"))
    assert "Contoso Oslo is ready and you are its admin" in page.content()
    tenant = Tenant.objects.get()
    assert (tenant.slug, tenant.time_zone) == ("contoso-oslo", "Europe/Oslo")
    assert Membership.objects.get(tenant=tenant).role == Role.ADMIN

    # Connect Office 365 through the (fake) admin consent.
    page.locator("section[data-provider=microsoft]").get_by_role("link", name="Connect").click()
    page.wait_for_url(re.compile(r"/integrations/microsoft/callback"))
    assert "Microsoft 365 connected: 3 room(s) found." in page.content()
    page.get_by_role("link", name="Back to Integrations").click()

    # Import: the directory's rooms by building and floor, new ones ticked; Harbour goes where the admin says.
    page.locator("section[data-provider=microsoft] [data-action=import]").click()
    page.wait_for_url(re.compile(r"/rooms/import/$"))
    for email in ("fjord@contoso.example", "glacier@contoso.example", "harbour@contoso.example"):
        row = page.locator(f"tr[data-email='{email}']")
        assert row.get_attribute("data-state") == "new"
        assert row.locator("input[name=room]").is_checked()
    assert "3 new room(s)" in page.locator("[data-testid=import-counts]").inner_text()
    page.fill("#id_fallback_building", "Annex")
    page.click("#import-rooms")
    page.wait_for_url(re.compile(r"/integrations/microsoft/rooms/$"))
    assert "3 room(s) created, 3 room(s) linked" in page.locator("[data-message=success]").inner_text()
    rooms = {room.name: room for room in Room.objects.filter(tenant=tenant).select_related("floor__building")}
    assert {name: (room.floor.building.name, room.floor.name) for name, room in rooms.items()} == {
        "Fjord": ("HQ", "Floor 3"), "Glacier": ("HQ", "Floor 3"), "Harbour": ("Annex", "Unassigned floor")}
    assert set(Building.objects.filter(tenant=tenant).values_list("time_zone", flat=True)) == {"Europe/Oslo"}
    assert dict(CalendarLink.objects.values_list("room__name", "external_calendar_id")) == {
        "Fjord": "fjord@contoso.example", "Glacier": "glacier@contoso.example", "Harbour": "harbour@contoso.example"}
    for room in rooms.values():
        assert page.locator(f"#room-{room.pk}").get_attribute("data-linked") == "true"
    assert tenant.calendar_connections.get().status == ConnectionStatus.ACTIVE

    # Sensors: the stream has reported three locations; each gets its room suggested, applied in one go.
    stream_reports(tenant)
    page.get_by_role("link", name="Sensors", exact=True).click()
    page.wait_for_url(re.compile(r"/settings/sensors/$"))
    assert page.locator("tr[data-recent=true]").count() == 3
    assert page.locator("[data-testid=suggestion]").count() == 3
    page.click("#apply-suggested")
    page.wait_for_url(re.compile(r"/settings/sensors/$"))
    assert "Mapped 3 source(s) to their suggested room. 3 earlier reading(s) applied." in page.content()
    assert page.locator("tr[data-mapped=true]").count() == 3
    assert dict(Room.objects.filter(tenant=tenant).values_list("name", "spaces_location_id")) == {
        "Fjord": "loc-fjord", "Glacier": "loc-glacier", "Harbour": "loc-harbour"}
    assert OccupancySignal.objects.filter(room=rooms["Fjord"]).count() == 2 and not PendingSignal.objects.exists()

    # The report: loads for the new workplace and knows its rooms.
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r"/reports/ghost-bookings/"))
    options = page.locator("#filter-room option").all_inner_texts()
    assert options == ["All rooms", "Annex / Unassigned floor / Harbour", "HQ / Floor 3 / Fjord",
                       "HQ / Floor 3 / Glacier"]
    page.screenshot(path=str(screenshot_path()))

    # CSRF really is checked here: the same session posting without the form's token is refused.
    refused = page.request.post(f"{live_server.url}/settings/sensors/apply-suggested")
    assert refused.status == 403 and "CSRF" in refused.text()


def screenshot_path():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "onboarding-report.png"
