"""FakeMicrosoft speaks Entra's and Graph's protocol: raw requests prove the shapes our client relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from spaces_calendar.providers.microsoft.fake import ConsentOutcome, FakeMicrosoft
from spaces_calendar.providers.microsoft.notifications import (
    parse_change_notifications,
    parse_lifecycle_notifications,
)
from spaces_calendar.providers.microsoft.timezones import to_graph_utc
from spaces_calendar.sandbox.harness import FakeResponse, FakeServer, ca_bundle_path
from tests.microsoft.conftest import answer_like_our_webhook

ROOM = "board@contoso.com"


@pytest.fixture
def fake() -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft() as fake:
        fake.add_room(ROOM, capacity="12")
        yield fake
        fake.graph.raise_errors()


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = ca_bundle_path()
        session.trust_env = False
        yield session


@pytest.fixture
def token(fake, client) -> str:
    url = f"{fake.login_url}/{fake.tenant_id}/oauth2/v2.0/token"
    return client.post(url, data=_token_form(fake)).json()["access_token"]


@pytest.fixture
def webhook() -> Iterator[FakeServer]:
    with FakeServer(name="our-webhook") as server:


        server.add_route("POST", "/hook", answer_like_our_webhook)
        server.add_route("POST", "/broken", lambda request: FakeResponse.text("", status=500))
        yield server


def _token_form(fake: FakeMicrosoft, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    return {**form, **overrides}


def test_token_errors_have_entras_shape_and_status(fake, client):
    url = f"{fake.login_url}/{fake.tenant_id}/oauth2/v2.0/token"

    wrong_secret = client.post(url, data=_token_form(fake, client_secret="nope"))
    unknown_tenant = client.post(f"{fake.login_url}/nobody/oauth2/v2.0/token", data=_token_form(fake))

    assert wrong_secret.status_code == 401
    body = wrong_secret.json()
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert unknown_tenant.status_code == 400
    assert unknown_tenant.json()["error"] == "invalid_request"
    assert unknown_tenant.json()["error_description"].startswith("AADSTS90002")


def test_a_token_has_the_client_credentials_shape(fake, client):
    body = client.post(f"{fake.login_url}/{fake.tenant_id}/oauth2/v2.0/token", data=_token_form(fake)).json()

    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (None, {"admin_consent": "True", "scope": "https://graph.microsoft.com/.default", "state": "s1"}),
        (ConsentOutcome.denied(), {"error": "access_denied", "state": "s1"}),
        (ConsentOutcome.failed_with_admin_consent(), {"admin_consent": "True", "error": "invalid_request"}),
    ],
)
def test_admin_consent_redirects_back_with_the_scripted_outcome(fake, client, outcome, expected):
    if outcome is not None:
        fake.next_consent = outcome
    params = {
        "client_id": fake.client_id,
        "scope": "https://graph.microsoft.com/.default",
        "redirect_uri": "https://app.example/ms/callback",
        "state": "s1",
    }

    response = client.get(f"{fake.login_url}/organizations/v2.0/adminconsent", params=params, allow_redirects=False)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.example/ms/callback"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query.items() >= expected.items()
    assert query.get("tenant", fake.tenant_id) == fake.tenant_id


def test_graph_refuses_a_missing_token_with_its_error_shape(fake, client):
    response = client.get(f"{fake.graph_url}/places/microsoft.graph.room")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_rooms_keep_capacity_as_the_string_graph_sends(fake, client, token):
    body = client.get(f"{fake.graph_url}/places/microsoft.graph.room", headers={"Authorization": f"Bearer {token}"})

    assert body.json()["value"][0]["capacity"] == "12"
    assert body.json()["value"][0]["emailAddress"] == ROOM


def test_a_removed_delta_item_carries_only_its_type_and_id(fake, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    event = fake.add_event(ROOM, "Gone soon", "2024-07-02T09:00:00", "2024-07-02T10:00:00")
    window = {"startDateTime": "2024-07-01T00:00:00Z", "endDateTime": "2024-07-08T00:00:00Z"}
    first = client.get(f"{fake.graph_url}/users/{ROOM}/calendarView/delta", params=window, headers=headers).json()
    fake.delete_event(ROOM, event["id"])

    second = client.get(first["@odata.deltaLink"], headers=headers).json()

    assert first["value"][0]["@odata.type"] == "#microsoft.graph.event"
    assert first["value"][0]["start"] == {"dateTime": "2024-07-02T09:00:00.0000000", "timeZone": "UTC"}
    assert second["value"] == [
        {"@odata.type": "#microsoft.graph.event", "id": event["id"], "@removed": {"reason": "deleted"}}
    ]


def test_an_unknown_delta_token_is_410_sync_state_not_found(fake, client, token):
    url = f"{fake.graph_url}/users/{ROOM}/calendarView/delta?$deltatoken=forgotten"

    response = client.get(url, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "syncStateNotFound"


def test_a_batch_of_more_than_20_requests_is_refused(fake, client, token):
    payload = {"requests": [{"id": str(n), "method": "GET", "url": "/places/microsoft.graph.room"} for n in range(21)]}

    response = client.post(f"{fake.graph_url}/$batch", json=payload, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400


def test_an_inner_throttle_comes_back_in_a_200_batch_with_retry_after(fake, client, token):
    fake.throttle_in_batch(r"/places/.*", retry_after="2.128")
    payload = {"requests": [{"id": str(n), "method": "GET", "url": "/places/microsoft.graph.room"} for n in range(2)]}

    response = client.post(f"{fake.graph_url}/$batch", json=payload, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    statuses = {
        item["id"]: (item["status"], item["headers"].get("Retry-After")) for item in response.json()["responses"]
    }
    assert statuses == {"0": (429, "2.128"), "1": (200, None)}


def _subscription(webhook: FakeServer, **overrides: str) -> dict[str, str]:
    expires = datetime.now(UTC) + timedelta(days=2)
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": webhook.url("/hook"),
        "lifecycleNotificationUrl": webhook.url("/hook"),
        "resource": f"/users/{ROOM}/events",
        "expirationDateTime": to_graph_utc(expires),
        "clientState": "s3cret",
    }
    return {**body, **overrides}


# Each case is a function, called when the test runs: an expiry computed at collection was no longer past the
# maximum when a loaded machine reached the test ten minutes later.
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(lambda: {"expirationDateTime": to_graph_utc(datetime.now(UTC) + timedelta(minutes=10080 + 10))},
                     id="expiry-past-10080-minutes"),
        pytest.param(lambda: {"clientState": "x" * 129}, id="client-state-too-long"),
        pytest.param(lambda: {"changeType": "moved"}, id="unknown-change-type"),
        pytest.param(lambda: {"notificationUrl": "http://example.com/hook"}, id="http-notification-url"),
        pytest.param(lambda: {"resource": "/users/nobody@contoso.com/events"}, id="unknown-mailbox"),
    ],
)
def test_an_invalid_subscription_is_refused_with_400(fake, client, token, webhook, overrides):
    response = client.post(
        f"{fake.graph_url}/subscriptions",
        json=_subscription(webhook, **overrides()),
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 400
    assert fake.subscriptions == {}


def test_an_endpoint_that_fails_validation_refuses_the_subscription(fake, client, token, webhook):
    body = _subscription(webhook, notificationUrl=webhook.url("/broken"))

    response = client.post(f"{fake.graph_url}/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"


def test_notifications_and_lifecycle_events_reach_our_endpoint_in_graphs_shapes(fake, client, token, webhook):
    created = client.post(
        f"{fake.graph_url}/subscriptions", json=_subscription(webhook), headers={"Authorization": f"Bearer {token}"}
    )
    subscription_id = created.json()["id"]

    assert created.status_code == 201
    assert fake.notify(ROOM, "updated", "AAMkAD-event=") == 202
    assert fake.lifecycle(subscription_id, "reauthorizationRequired") == 202

    change_post, lifecycle_post = [r for r in webhook.requests_to("/hook") if not r.arg("validationToken")]
    (change,) = parse_change_notifications(change_post.body)
    (lifecycle,) = parse_lifecycle_notifications(lifecycle_post.body)
    assert change.subscription_id == subscription_id
    assert change.client_state == "s3cret"
    assert change.resource_id == "AAMkAD-event="
    assert change.resource_type == "#Microsoft.Graph.Event"
    assert change_post.json()["value"][0]["subscriptionExpirationDateTime"].endswith("Z")
    assert lifecycle.lifecycle_event == "reauthorizationRequired"
    assert lifecycle_post.json()["value"][0]["subscriptionExpirationDateTime"].endswith("0+00:00")
    assert lifecycle.subscription_expires_at == fake.subscriptions[subscription_id].expires_at


def test_a_subscription_removed_lifecycle_event_drops_the_subscription(fake, client, token, webhook):
    created = client.post(
        f"{fake.graph_url}/subscriptions", json=_subscription(webhook), headers={"Authorization": f"Bearer {token}"}
    ).json()

    fake.lifecycle(created["id"], "subscriptionRemoved")

    assert fake.subscriptions == {}
