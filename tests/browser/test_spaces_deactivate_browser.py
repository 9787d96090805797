"""Deactivating Cisco Spaces deletes the API key, which only a new activation token from Cisco brings back: in a
Chromium with JavaScript turned off, *Deactivate* asks first, *Cancel* keeps everything, and only the
confirmation deletes the key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spaces_calendar.core.models import Role
from spaces_calendar.partner import activation
from spaces_calendar.partner import client as partner_client
from spaces_calendar.partner.fake import FakeSpacesPartner
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from spaces_calendar.sandbox.harness import ca_bundle_path
from tests.browser.conftest import log_in
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def activated(settings) -> Iterator[object]:
    """A tenant with an active Cisco Spaces activation (from a fake partner API) and its admin."""
    with FakeSpacesPartner() as fake:
        settings.SPACES_PARTNER_HOSTS = {fake.base_url: "Sandbox"}
        settings.SPACES_APP_ID = fake.app_id
        settings.SPACES_API_KEY = None
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        partner_client.forget_public_keys()
        tenant = make_tenant("Acme")
        activation.activate(tenant, fake.issue_activation_token())
        yield tenant, make_user(tenant, Role.ADMIN, staff=False)
        partner_client.forget_public_keys()


def test_deactivate_asks_first_and_works_without_javascript(browser, live_server, activated):
    tenant, admin = activated
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, admin.username)
    status = lambda: SpacesActivation.objects.get(tenant=tenant).status  # noqa: E731

    page.goto(f"{live_server.url}/integrations/spaces/")
    page.click("[data-action=deactivate]")
    page.wait_for_selector("[data-action=confirm-deactivate]")
    assert "deletes the API key" in page.content()
    assert status() == ActivationStatus.ACTIVE

    page.click("[data-action=cancel-deactivate]")
    page.wait_for_selector("[data-action=deactivate]")
    assert status() == ActivationStatus.ACTIVE

    page.click("[data-action=deactivate]")
    page.click("[data-action=confirm-deactivate]")
    page.wait_for_selector("text=Cisco Spaces is deactivated here")
    assert status() == ActivationStatus.DEACTIVATED
    assert SpacesActivation.objects.get(tenant=tenant).api_key is None
    context.close()
