"""The main pages under the Content-Security-Policy in a real Chromium: nothing refused, and the pages whose
scripts matter still do their work (the kiosk screen polls, the workplace form takes the browser's zone, Swagger UI
renders, the Django admin's scripts run)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from occupancy.kiosk import tokens
from spaces_calendar.core.models import Role
from tests.factories import make_room, make_tenant, make_user

from .conftest import csp_violations, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"

ADMIN_PAGES = ["/", "/integrations/", "/integrations/spaces/", "/integrations/microsoft/rooms/",
               "/kiosk-tokens/", "/settings/sensors/", "/settings/occupancy/", "/reports/ghost-bookings/",
               "/reports/utilization/"]


@pytest.fixture
def acme(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tenant = make_tenant("Acme")
    make_room(tenant, "Fjord")
    return tenant


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    assert response.headers.get("content-security-policy"), f"{url} has no Content-Security-Policy"
    page.wait_for_load_state("load")


def test_a_tenant_admins_pages_raise_no_violation(page, live_server, acme):
    found = csp_violations(page)
    log_in(page, live_server.url, make_user(acme, Role.ADMIN, staff=False).username, PASSWORD)

    for path in ADMIN_PAGES:
        visit(page, f"{live_server.url}{path}")
        assert not found, f"{path}: {found}"


def test_the_kiosk_screen_still_runs_its_script(page, live_server, acme):
    found = csp_violations(page)
    fjord = acme.buildings.get().floors.get().rooms.get()
    _token, raw = tokens.issue_token(acme, "Panel", rooms=[fjord])

    visit(page, f"{live_server.url}/kiosk/{raw}/?room={fjord.pk}&poll=1")

    page.wait_for_selector(f"article.room[data-room-id='{fjord.pk}'][data-state='free']")
    assert not found


def test_the_workplace_form_still_takes_the_browsers_zone(browser, live_server, acme):
    context = browser.new_context(timezone_id="Asia/Tokyo")
    page = context.new_page()
    found = csp_violations(page)
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    log_in(page, live_server.url, "root", PASSWORD)

    visit(page, f"{live_server.url}/workplace/new/")

    assert page.input_value("#id_time_zone") == "Asia/Tokyo"  # set by the page's (nonce-marked) script
    assert not found
    context.close()


def test_swagger_ui_renders_the_api(page, live_server, acme):
    found = csp_violations(page)
    log_in(page, live_server.url, make_user(acme, Role.ADMIN, staff=False).username, PASSWORD)

    visit(page, f"{live_server.url}/api/docs/")

    page.wait_for_selector(".swagger-ui .info .title")
    assert "spaces-calendar API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock-summary-path >> nth=0")
    assert not found


def test_the_django_admin_works(page, live_server, acme):
    found = csp_violations(page)
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    visit(page, f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    for path in ["/admin/", "/admin/core/tenant/", "/admin/core/room/add/", "/admin/occupancy/kiosktoken/add/"]:
        visit(page, f"{live_server.url}{path}")
        assert not found, f"{path}: {found}"
    # The add form's JavaScript ran: SelectFilter2.js turned the rooms' <select multiple> into its two-box chooser.
    page.wait_for_selector(".selector #id_rooms_from")


def test_a_violation_is_heard(page, live_server, acme):
    """The listener is not deaf: Django's own CSRF failure page has an inline stylesheet our policy refuses."""
    found = csp_violations(page)
    log_in(page, live_server.url, make_user(acme, Role.ADMIN, staff=False).username, PASSWORD)
    visit(page, f"{live_server.url}/settings/occupancy/")

    page.evaluate("document.querySelector('#policy-form input[name=csrfmiddlewaretoken]').remove()")
    page.click("#policy-form button[type=submit]")
    page.wait_for_load_state("load")

    assert "CSRF verification failed" in page.content()
    assert any("style-src" in line for line in found), found
