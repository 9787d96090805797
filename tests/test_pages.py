import pytest
from django.urls import reverse

from spaces_calendar.core.models import Role
from spaces_calendar.core.tenancy import SESSION_KEY
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_home_lists_only_the_users_tenant_rooms(client, two_tenants):
    client.force_login(make_user(two_tenants["globex"], Role.VIEWER))

    response = client.get(reverse("home"))

    assert "Globex War Room" in response.text
    assert "Acme Boardroom" not in response.text


def test_a_session_cannot_switch_into_a_tenant_the_user_is_not_a_member_of(client, two_tenants):
    client.force_login(make_user(two_tenants["globex"], Role.VIEWER))
    session = client.session
    session[SESSION_KEY] = two_tenants["acme"].pk
    session.save()

    response = client.get(reverse("home"))

    assert "Acme Boardroom" not in response.text
    assert "Globex War Room" in response.text


def test_home_requires_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_sandbox_is_labelled(client, two_tenants, settings):
    settings.SANDBOX = True
    client.force_login(make_user(two_tenants["acme"]))

    assert 'data-testid="sandbox-banner"' in client.get(reverse("home")).text

    settings.SANDBOX = False
    assert 'data-testid="sandbox-banner"' not in client.get(reverse("home")).text


def test_the_login_page_shows_the_sandbox_label(client, settings):
    settings.SANDBOX = True

    assert "Sandbox" in client.get(reverse("login")).text
