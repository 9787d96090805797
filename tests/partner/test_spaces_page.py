"""The Cisco Spaces page: tenant admins activate and deactivate; nobody ever sees the key."""

import pytest
from django.urls import reverse

from spaces_calendar.core.models import Role
from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.credentials import firehose_credentials
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db

PAGE = "/integrations/spaces/"


def test_the_page_is_where_the_integrations_tile_points():
    assert reverse("partner-spaces") == PAGE


def test_an_admin_activates_by_pasting_a_token_and_sees_the_status_but_never_the_key(client, fake_spaces, acme):
    client.force_login(acme["admin"])

    response = client.post(PAGE, {"token": fake_spaces.issue_activation_token()}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    activation = SpacesActivation.objects.get(tenant=acme["tenant"])
    page = response.text
    assert "Cisco Spaces is activated for Acme Workplace (Sandbox)." in page
    assert "Active" in page and "tenant id 420" in page and fake_spaces.base_url in page
    assert f"…{activation.api_key[-4:]}" in page
    assert activation.api_key not in page and activation.api_key[:-4] not in page


def test_each_refusal_is_explained_on_the_page(client, fake_spaces, acme):
    client.force_login(acme["admin"])

    expired = client.post(PAGE, {"token": fake_spaces.issue_activation_token(expires_in=-120)}, follow=True)
    garbage = client.post(PAGE, {"token": "hello"}, follow=True)
    empty = client.post(PAGE, {"token": "  "}, follow=True)

    assert "This activation token has expired" in expired.text
    assert "This is not a Cisco Spaces activation token" in garbage.text
    assert "Paste the activation token" in empty.text
    assert "not activated" in empty.text
    assert not SpacesActivation.objects.exists()


def test_a_viewer_can_neither_see_nor_use_the_page(client, fake_spaces, acme):
    client.force_login(acme["viewer"])

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"token": fake_spaces.issue_activation_token()}).status_code == 403
    assert client.post(reverse("partner-spaces-deactivate")).status_code == 403
    assert fake_spaces.server.requests == []


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_another_tenants_admin_sees_nothing_of_this_activation(client, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    globex = make_tenant("Globex")
    client.force_login(make_user(globex, Role.ADMIN))

    page = client.get(PAGE).text
    client.post(reverse("partner-spaces-deactivate"), {"confirm": "yes"})

    assert "not activated for Globex" in page
    assert "Acme Workplace" not in page and "420" not in page
    assert SpacesActivation.objects.get(tenant=acme["tenant"]).status == ActivationStatus.ACTIVE


def test_the_deactivate_button_only_asks_for_a_confirmation(client, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    client.force_login(acme["admin"])

    response = client.post(reverse("partner-spaces-deactivate"))

    assert response.status_code == 200
    assert SpacesActivation.objects.get(tenant=acme["tenant"]).status == ActivationStatus.ACTIVE
    page = response.text
    assert "deletes the API key" in page and "Acme Workplace" in page
    # A plain form (no JavaScript), posting back with the confirmation and the CSRF token.
    assert f'action="{reverse("partner-spaces-deactivate")}"' in page and 'method="post"' in page
    assert 'name="confirm" value="yes"' in page and 'name="csrfmiddlewaretoken"' in page
    assert 'data-action="confirm-deactivate"' in page and f'href="{PAGE}"' in page  # confirm, or cancel


def test_the_confirmation_is_csrf_protected(fake_spaces, acme):
    from django.test import Client

    activate(acme["tenant"], fake_spaces.issue_activation_token())
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme["admin"])

    response = client.post(reverse("partner-spaces-deactivate"), {"confirm": "yes"})

    assert response.status_code == 403
    assert SpacesActivation.objects.get(tenant=acme["tenant"]).status == ActivationStatus.ACTIVE


def test_deactivating_deletes_the_key(client, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    client.force_login(acme["admin"])

    response = client.post(reverse("partner-spaces-deactivate"), {"confirm": "yes"}, follow=True)

    activation = SpacesActivation.objects.get(tenant=acme["tenant"])
    assert (activation.status, activation.api_key, activation.api_key_hint) == (ActivationStatus.DEACTIVATED, None, "")
    assert f"Deactivated by {acme['admin'].username}" in activation.status_reason
    assert "Cisco Spaces is deactivated here" in response.text
    assert 'data-action="deactivate"' not in response.text
    assert firehose_credentials() is None


def test_deactivate_answers_only_post(client, acme):
    client.force_login(acme["admin"])

    assert client.get(reverse("partner-spaces-deactivate")).status_code == 405


def test_a_deactivated_spaces_tenant_can_be_activated_by_another_organisation(client, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    client.force_login(acme["admin"])
    client.post(reverse("partner-spaces-deactivate"), {"confirm": "yes"})

    activation = activate(make_tenant("Globex"), fake_spaces.issue_activation_token())

    assert activation.status == ActivationStatus.ACTIVE


def test_the_page_says_when_the_operators_key_takes_precedence(client, acme, settings):
    settings.SPACES_API_KEY = "operator-key-0000"
    client.force_login(acme["admin"])

    page = client.get(PAGE).text

    assert "SPACES_API_KEY" in page and "operator-key-0000" not in page


def test_the_integrations_page_has_a_cisco_spaces_tile(client, fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token())
    client.force_login(acme["admin"])

    page = client.get(reverse("integrations")).text

    assert 'data-provider="spaces"' in page and "Cisco Spaces" in page
    assert f'href="{PAGE}"' in page and "Acme Workplace" in page
