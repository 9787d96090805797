"""The sandbox page: only in the sandbox, only for tenant admins; shows the fake calendars and changes them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from spaces_calendar.core.models import Role
from spaces_calendar.providers.microsoft.client import GraphClient
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.factories import make_user

pytestmark = pytest.mark.django_db
FJORD = "fjord@sandbox-demo.example.com"


@pytest.fixture
def admin_client(client):
    """An admin of the demo tenant, the only tenant the sandbox serves (tests/sandbox/test_sandbox_isolation.py)."""
    client.force_login(make_user(seed_demo_tenant(), Role.ADMIN))
    return client


def test_the_page_does_not_exist_outside_the_sandbox(admin_client, settings):
    settings.SANDBOX = False

    assert admin_client.get(reverse("sandbox")).status_code == 404
    assert admin_client.post(reverse("sandbox-meeting", args=["add"]), {"room": FJORD}).status_code == 404


def test_a_viewer_may_not_use_it(client, sandbox):
    client.force_login(make_user(seed_demo_tenant(), Role.VIEWER))

    assert client.get(reverse("sandbox")).status_code == 403
    assert client.post(reverse("sandbox-meeting", args=["add"]), {"room": FJORD}).status_code == 403
    assert ">Sandbox</a>" not in client.get(reverse("home")).text


def test_it_asks_anonymous_visitors_to_log_in(client, sandbox):
    response = client.get(reverse("sandbox"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_an_admin_sees_the_fake_rooms_and_their_meetings(admin_client, sandbox):
    response = admin_client.get(reverse("sandbox"))

    assert response.status_code == 200
    for name in ("Fjord", "Glacier", "Harbour", "Aurora", "Birch", "Cedar", "Delta", "Ember"):
        assert f"<h2>{name} " in response.text
    assert "Hidden from Places" in response.text  # the Vault
    assert "Quarterly planning" in response.text
    assert "(private)" in response.text
    assert "all day" in response.text
    assert config.MICROSOFT_TENANT_ID in response.text
    assert ">Sandbox</a>" in response.text  # the nav link


def test_it_says_so_when_the_fake_is_not_running(admin_client, sandbox, settings):
    sandbox.stop()

    response = admin_client.get(reverse("sandbox"))

    assert response.status_code == 200
    assert "did not answer" in response.text


def test_booking_a_meeting_from_the_page_reaches_the_fake_and_our_webhook(admin_client, sandbox, webhook):
    expires = datetime.now(UTC) + timedelta(days=2)
    GraphClient(config.MICROSOFT_TENANT_ID).create_subscription(
        FJORD, webhook.url("/webhooks/microsoft/notifications"), None, "state", expires)

    response = admin_client.post(reverse("sandbox-meeting", args=["add"]), {"room": FJORD}, follow=True)

    assert "Booked “Ad-hoc meeting”" in response.text
    assert "it answered 202" in response.text
    assert any(event["subject"] == "Ad-hoc meeting" for event in sandbox.fake("microsoft").events[FJORD].values())


def test_moving_and_cancelling_from_the_page(admin_client, sandbox):
    event_id = next(iter(sandbox.fake("microsoft").events["harbour@sandbox-demo.example.com"]))
    room = {"room": "harbour@sandbox-demo.example.com", "event_id": event_id}

    moved = admin_client.post(reverse("sandbox-meeting", args=["move"]), {**room, "minutes": "30"}, follow=True)
    cancelled = admin_client.post(reverse("sandbox-meeting", args=["cancel"]), room, follow=True)

    assert "Moved" in moved.text and "link the room first" in moved.text
    assert "Cancelled" in cancelled.text
    assert event_id not in sandbox.fake("microsoft").events["harbour@sandbox-demo.example.com"]


def test_a_refused_change_is_shown(admin_client, sandbox):
    response = admin_client.post(reverse("sandbox-meeting", args=["cancel"]),
                                 {"room": FJORD, "event_id": "AAMkAD-missing"}, follow=True)

    assert "The fake Microsoft 365 refused: No meeting" in response.text


def test_an_unknown_action_is_not_found(admin_client, sandbox):
    assert admin_client.post(reverse("sandbox-meeting", args=["explode"]), {"room": FJORD}).status_code == 404
