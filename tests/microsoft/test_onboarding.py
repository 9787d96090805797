"""Office 365 admin consent end to end: our views, the real msal and requests, the fake Entra + Graph."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.urls import reverse

from spaces_calendar.calendars.models import CalendarConnection, ConnectionStatus
from spaces_calendar.core.models import Role
from spaces_calendar.providers.microsoft.fake import ConsentOutcome, FakeMicrosoft
from spaces_calendar.sandbox.harness import ca_bundle_path
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_ms(fake_microsoft, settings) -> FakeMicrosoft:
    settings.PUBLIC_BASE_URL = "http://testserver"
    fake_microsoft.add_room("fjord@contoso.example", "Fjord", capacity="12")
    return fake_microsoft


@pytest.fixture
def admin_client(client, two_tenants):
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))
    return client


def consent_round_trip(client, fake: FakeMicrosoft):
    """Click Connect, let the fake Entra answer as scripted, and follow its redirect back to our callback."""
    response = client.get(reverse("microsoft-connect"))
    assert response.status_code == 302
    consent = urlsplit(response.url)
    query = parse_qs(consent.query)
    assert consent.path == "/organizations/v2.0/adminconsent"
    assert query["scope"] == ["https://graph.microsoft.com/.default"]
    assert query["redirect_uri"] == [settings.PUBLIC_BASE_URL + "/integrations/microsoft/callback"]
    assert query["client_id"] == [fake.client_id]
    entra = requests.get(response.url, allow_redirects=False, verify=ca_bundle_path(), timeout=5)
    back = urlsplit(entra.headers["Location"])
    assert back.path == reverse("microsoft-callback")
    return client.get(back.path + "?" + back.query)


def test_a_granted_consent_is_proved_with_a_token_and_a_graph_call_before_the_connection_is_active(
    admin_client, fake_ms, two_tenants
):
    response = consent_round_trip(admin_client, fake_ms)

    assert response.status_code == 200
    assert "1 room(s) found" in response.text
    connection = CalendarConnection.objects.get(tenant=two_tenants["acme"])
    assert (connection.status, connection.external_tenant_id) == (ConnectionStatus.ACTIVE, fake_ms.tenant_id)
    assert len(fake_ms.token_requests()) == 1
    assert fake_ms.graph.requests_to(r"/v1\.0/places/microsoft\.graph\.room")


def test_a_declined_consent_ends_on_a_readable_page_and_connects_nothing(admin_client, fake_ms):
    fake_ms.next_consent = ConsentOutcome.denied()

    response = consent_round_trip(admin_client, fake_ms)

    assert response.status_code == 400
    assert "declined or cancelled" in response.text
    assert not CalendarConnection.objects.exists()


def test_admin_consent_true_with_an_error_is_treated_as_an_error(admin_client, fake_ms):
    fake_ms.next_consent = ConsentOutcome.failed_with_admin_consent(fake_ms.tenant_id)

    response = consent_round_trip(admin_client, fake_ms)

    assert response.status_code == 400
    assert "AADSTS650051" in response.text
    assert not CalendarConnection.objects.exists()
    assert fake_ms.token_requests() == []


def test_a_tenant_id_swapped_into_the_callback_is_not_trusted_when_its_token_fails(admin_client, fake_ms):
    stranger = fake_ms.add_tenant(consented=False)  # exists at Microsoft, never consented to our app
    first = admin_client.get(reverse("microsoft-connect"))
    entra = requests.get(first.url, allow_redirects=False, verify=ca_bundle_path(), timeout=5)
    callback = urlsplit(entra.headers["Location"])
    forged = callback.query.replace(fake_ms.tenant_id, stranger)

    response = admin_client.get(callback.path + "?" + forged)

    assert response.status_code == 400
    assert "has not granted access yet" in response.text
    assert "unauthorized_client" in response.text
    assert not CalendarConnection.objects.exists()


def test_a_replayed_state_is_refused(admin_client, fake_ms):
    first = admin_client.get(reverse("microsoft-connect"))
    entra = requests.get(first.url, allow_redirects=False, verify=ca_bundle_path(), timeout=5)
    callback = urlsplit(entra.headers["Location"])
    assert admin_client.get(callback.path + "?" + callback.query).status_code == 200

    replay = admin_client.get(callback.path + "?" + callback.query)

    assert replay.status_code == 400
    assert "already used" in replay.text


def test_a_state_from_another_session_is_refused(admin_client, client_factory, fake_ms, two_tenants):
    first = admin_client.get(reverse("microsoft-connect"))
    entra = requests.get(first.url, allow_redirects=False, verify=ca_bundle_path(), timeout=5)
    callback = urlsplit(entra.headers["Location"])
    intruder = client_factory()
    intruder.force_login(make_user(two_tenants["globex"], Role.ADMIN))

    response = intruder.get(callback.path + "?" + callback.query)

    assert response.status_code == 400
    assert not CalendarConnection.objects.exists()


def test_a_callback_without_state_is_refused(admin_client, fake_ms):
    response = admin_client.get(reverse("microsoft-callback") + f"?admin_consent=True&tenant={fake_ms.tenant_id}")

    assert response.status_code == 400
    assert not CalendarConnection.objects.exists()


def test_only_a_tenant_admin_may_connect(client, two_tenants, fake_ms):
    client.force_login(make_user(two_tenants["acme"], Role.VIEWER))

    assert client.get(reverse("microsoft-connect")).status_code == 403


def test_the_integrations_page_shows_only_the_users_tenant_connection(client, two_tenants, fake_ms):
    CalendarConnection.objects.create(tenant=two_tenants["globex"], provider="microsoft",
                                      external_tenant_id="22222222-2222-2222-2222-222222222222",
                                      status=ConnectionStatus.ACTIVE)
    client.force_login(make_user(two_tenants["acme"], Role.ADMIN))

    page = client.get(reverse("integrations")).text

    assert "22222222-2222-2222-2222-222222222222" not in page
    assert "Not connected." in page and "Connect" in page
