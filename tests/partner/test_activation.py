"""Activation with a pasted token, through requests, TLS and PyJWT against the fake Cisco Spaces partner API."""

import logging
import textwrap

import pytest
import requests
from django.db import connection

from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.errors import ActivationError
from spaces_calendar.partner.fake import ACTIVATE_ROUTE, FakeSpacesPartner, new_rsa_key
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from spaces_calendar.sandbox.harness import Fault, ca_bundle_path
from tests.factories import make_tenant

from .conftest import claims_of, forge, hs256_with_public_key

pytestmark = pytest.mark.django_db


def refused(tenant, token: str) -> ActivationError:
    with pytest.raises(ActivationError) as caught:
        activate(tenant, token)
    return caught.value


def test_a_valid_token_is_verified_exchanged_for_a_key_and_stored(fake_spaces, acme):
    token = fake_spaces.issue_activation_token()
    claims = claims_of(token)

    activation = activate(acme["tenant"], token)

    assert activation.status == ActivationStatus.ACTIVE
    assert activation.spaces_tenant_id == "420" and activation.spaces_tenant_name == "Acme Workplace"
    assert (activation.base_url, activation.region) == (fake_spaces.base_url, "Sandbox")
    assert (activation.app_id, activation.activation_ref_id) == (fake_spaces.app_id, claims["activationRefId"])
    assert activation.partner_tenant_id == claims["partnerTenantId"]
    assert fake_spaces.is_active_key(activation.api_key)
    assert activation.api_key_hint == activation.api_key[-4:]
    [sent] = fake_spaces.activation_requests()
    assert sent.headers["Authorization"] == f"Bearer {token}"
    assert sent.json() == {"appId": fake_spaces.app_id, "activationRefId": claims["activationRefId"],
                           "instanceName": f"spaces-calendar/{acme['tenant'].slug}"}


def test_the_api_key_is_encrypted_in_the_database(fake_spaces, acme):
    activation = activate(acme["tenant"], fake_spaces.issue_activation_token())

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM partner_spacesactivation WHERE id = %s", [activation.pk])
        [raw] = cursor.fetchone()
    assert activation.api_key not in raw
    assert SpacesActivation.objects.get(pk=activation.pk).api_key == activation.api_key


def test_a_token_signed_by_another_key_is_refused_and_never_sent_to_cisco(fake_spaces, acme):
    error = refused(acme["tenant"], fake_spaces.issue_activation_token(private_key=new_rsa_key()))

    assert error.kind == "invalid"
    assert "not signed by Cisco Spaces" in error.message
    assert fake_spaces.activation_requests() == []
    assert not SpacesActivation.objects.exists()


def test_an_unsigned_alg_none_token_is_refused(fake_spaces, acme):
    payload = claims_of(fake_spaces.issue_activation_token())

    error = refused(acme["tenant"], forge({"typ": "JWT", "alg": "none"}, payload))

    assert error.kind == "invalid"
    assert fake_spaces.activation_requests() == []


def test_an_hs256_token_keyed_with_the_public_key_is_refused(fake_spaces, acme):
    payload = claims_of(fake_spaces.issue_activation_token())

    error = refused(acme["tenant"], hs256_with_public_key(fake_spaces, payload))

    assert error.kind == "invalid"
    assert fake_spaces.activation_requests() == []


def test_an_expired_token_is_refused(fake_spaces, acme):
    error = refused(acme["tenant"], fake_spaces.issue_activation_token(expires_in=-120))

    assert error.kind == "expired"
    assert "expired" in error.message
    assert fake_spaces.activation_requests() == []


def test_a_token_for_another_partner_app_is_refused(fake_spaces, acme, settings):
    settings.SPACES_APP_ID = "app-SOMEONE-ELSES"

    error = refused(acme["tenant"], fake_spaces.issue_activation_token())

    assert error.kind == "wrong_app"
    assert fake_spaces.activation_requests() == []


def test_a_token_already_used_elsewhere_is_refused_by_cisco_with_its_own_message(fake_spaces, acme):
    token = fake_spaces.issue_activation_token()
    claims = claims_of(token)
    first = requests.post(
        fake_spaces.base_url + "/client/v1/partner/activateOnPremiseApp",
        json={"appId": claims["appId"], "activationRefId": claims["activationRefId"], "instanceName": "other"},
        headers={"Authorization": f"Bearer {token}"},
        verify=ca_bundle_path(),
        timeout=5,
    )
    first_key = first.json()["data"]["apiKey"]

    error = refused(acme["tenant"], token)

    assert error.kind == "reused"
    assert "already used" in error.message and "generate a new token" in error.message
    assert not fake_spaces.is_active_key(first_key), "Cisco deactivates the app when a token is reused"
    assert not SpacesActivation.objects.exists()


def test_pasting_the_same_token_twice_never_sends_it_to_cisco_again(fake_spaces, acme):
    token = fake_spaces.issue_activation_token()
    activation = activate(acme["tenant"], token)

    error = refused(acme["tenant"], token)

    assert error.kind == "already_used_here"
    assert len(fake_spaces.activation_requests()) == 1
    activation.refresh_from_db()
    assert activation.status == ActivationStatus.ACTIVE and fake_spaces.is_active_key(activation.api_key)


def test_a_token_naming_an_unknown_host_is_refused_before_any_request_to_it(fake_spaces, acme):
    with FakeSpacesPartner() as impostor:
        error = refused(acme["tenant"], impostor.issue_activation_token())

        assert error.kind == "unknown_host"
        assert impostor.server.requests == []
    assert fake_spaces.server.requests == []


@pytest.mark.parametrize("base_url", ["https://partners.dnaspaces.io.evil.example", "https://partners.dnaspaces.io/x",
                                      "https://user@partners.dnaspaces.io", "http://partners.dnaspaces.io"])
def test_look_alike_base_urls_are_not_partner_hosts(fake_spaces, acme, base_url):
    error = refused(acme["tenant"], fake_spaces.issue_activation_token(baseUrl=base_url))

    assert error.kind == "unknown_host"
    assert fake_spaces.server.requests == []


def test_the_partner_api_being_down_is_reported_and_nothing_is_stored(fake_spaces, acme):
    fake_spaces.server.add_fault(Fault(status=503), path=ACTIVATE_ROUTE, method="POST")

    error = refused(acme["tenant"], fake_spaces.issue_activation_token())

    assert error.kind == "unavailable"
    assert "503" in error.message and "Try again" in error.message
    assert len(fake_spaces.activation_requests()) == 1, "an activation POST is never retried"
    assert not SpacesActivation.objects.exists()


def test_an_unreachable_partner_host_is_a_network_failure(acme, settings):
    settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    settings.OUTBOUND_MAX_RETRIES = 0
    settings.SPACES_APP_ID = None
    fake = FakeSpacesPartner().start()
    token = fake.issue_activation_token()
    settings.SPACES_PARTNER_HOSTS = {fake.base_url: "Gone"}
    fake.stop()

    error = refused(acme["tenant"], token)

    assert error.kind == "network"
    assert "could not be reached" in error.message


@pytest.mark.parametrize("token", ["", "not a token", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"])
def test_malformed_tokens_are_refused(fake_spaces, acme, token):
    error = refused(acme["tenant"], token)

    assert error.kind == "malformed"
    assert fake_spaces.server.requests == []


def test_a_token_wrapped_over_several_lines_is_accepted(fake_spaces, acme):
    wrapped = "\n".join(textwrap.wrap(fake_spaces.issue_activation_token(), 76))

    assert activate(acme["tenant"], f"  {wrapped}\n").status == ActivationStatus.ACTIVE


def test_re_activating_replaces_the_key_in_the_same_row(fake_spaces, acme):
    first = activate(acme["tenant"], fake_spaces.issue_activation_token())
    first_key = first.api_key

    second = activate(acme["tenant"], fake_spaces.issue_activation_token())

    assert SpacesActivation.objects.count() == 1 and second.pk == first.pk
    assert second.api_key != first_key and fake_spaces.is_active_key(second.api_key)


def test_a_spaces_tenant_activated_by_another_organisation_is_refused_before_the_token_is_spent(fake_spaces, acme):
    activate(make_tenant("Globex"), fake_spaces.issue_activation_token())

    error = refused(acme["tenant"], fake_spaces.issue_activation_token())

    assert error.kind == "conflict"
    assert len(fake_spaces.activation_requests()) == 1


def test_the_public_key_is_fetched_once_and_again_after_cisco_rotates_it(fake_spaces, acme):
    activate(acme["tenant"], fake_spaces.issue_activation_token(tenantId=1))
    activate(make_tenant("Globex"), fake_spaces.issue_activation_token(tenantId=2))
    assert len(fake_spaces.public_key_requests()) == 1

    fake_spaces.rotate_key("v1")
    activate(make_tenant("Initech"), fake_spaces.issue_activation_token(tenantId=3))

    assert len(fake_spaces.public_key_requests()) == 2
    assert SpacesActivation.objects.filter(status=ActivationStatus.ACTIVE).count() == 3


def test_the_key_version_named_by_the_token_is_used(fake_spaces, acme):
    fake_spaces.rotate_key("v2")

    activation = activate(acme["tenant"], fake_spaces.issue_activation_token(version="v2"))

    assert activation.status == ActivationStatus.ACTIVE
    assert fake_spaces.public_key_requests()[0].path.endswith("/partnerPublicKey/v2")


def test_refusals_are_logged_without_the_token(fake_spaces, acme, caplog):
    token = fake_spaces.issue_activation_token(expires_in=-120)

    with caplog.at_level(logging.WARNING, logger="spaces_calendar.partner"):
        refused(acme["tenant"], token)

    assert "refused" in caplog.text and "expired" in caplog.text
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
