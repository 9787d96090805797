"""Our Graph webhook endpoints: handshake, per-item verification, debounce, and clear 4xx for bad input."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from spaces_calendar.calendars.models import (
    CalendarConnection,
    CalendarLink,
    ConnectionStatus,
    Provider,
    Subscription,
    ValidationWindow,
)
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "microsoft-graph"
ENTRA_TENANT = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
NOTIFY = "/webhooks/microsoft/notifications"
LIFECYCLE = "/webhooks/microsoft/lifecycle"


@pytest.fixture
def subscribed(settings):
    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 5
    tenant = make_tenant()
    connection = CalendarConnection.objects.create(tenant=tenant, provider=Provider.MICROSOFT,
                                                   external_tenant_id=ENTRA_TENANT, status=ConnectionStatus.ACTIVE)
    room = make_room(tenant, "Fjord")
    later = timezone.now() + timedelta(hours=10)
    link = CalendarLink.objects.create(connection=connection, room=room, external_calendar_id=room.email,
                                       next_sync_at=later, sync_state="https://graph/delta?$deltatoken=abc")
    subscription = Subscription.objects.create(link=link, external_id="7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                                               resource=f"/users/{room.email}/events", client_state="s3cr3t-state",
                                               expires_at=timezone.now() + timedelta(days=6))
    return link, subscription


def change(subscription: Subscription, *, client_state: str | None = None, tenant_id: str = ENTRA_TENANT,
           subscription_id: str | None = None) -> dict:
    item = json.loads((FIXTURES / "change-notification.request.json").read_text())["value"][0]
    item.update(subscriptionId=subscription_id or subscription.external_id,
                clientState=subscription.client_state if client_state is None else client_state,
                tenantId=tenant_id)
    return item


def lifecycle_item(subscription: Subscription, event: str, client_state: str | None = None) -> dict:
    item = json.loads((FIXTURES / "lifecycle-missed.request.json").read_text())["value"][0]
    item.update(subscriptionId=subscription.external_id, lifecycleEvent=event, tenantId=ENTRA_TENANT,
                clientState=subscription.client_state if client_state is None else client_state)
    return item


def post(client, url: str, items: list[dict] | None = None, body: bytes | None = None):
    data = body if body is not None else json.dumps({"value": items}).encode()
    return client.post(url, data=data, content_type="application/json")


@pytest.mark.parametrize("url", [NOTIFY, LIFECYCLE])
def test_the_validation_handshake_is_answered_while_a_subscription_is_being_created(client, subscribed, url):
    token = "Validation: Testing client application reachability for subscription Request-Id: 123"
    ValidationWindow.objects.create(connection=subscribed[0].connection,
                                    expires_at=timezone.now() + timedelta(seconds=30))

    response = client.post(f"{url}?validationToken=Validation%3A+Testing+client+application+reachability+for"
                           "+subscription+Request-Id%3A+123", content_type="text/plain")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == token


@pytest.mark.parametrize("url", [NOTIFY, LIFECYCLE])
def test_a_validation_request_nobody_expects_is_refused(client, subscribed, url, caplog):
    ValidationWindow.objects.create(connection=subscribed[0].connection,
                                    expires_at=timezone.now() - timedelta(seconds=1))
    with caplog.at_level(logging.WARNING):
        response = client.post(f"{url}?validationToken=echo-me", content_type="text/plain")
    assert response.status_code == 403 and b"echo-me" not in response.content
    assert "validation request refused" in caplog.text


def test_a_notification_makes_its_room_due_after_the_debounce(client, subscribed):
    link, subscription = subscribed
    before = timezone.now()

    response = post(client, NOTIFY, [change(subscription)])

    assert response.status_code == 202 and response.content == b""
    link.refresh_from_db()
    assert before + timedelta(seconds=4) < link.next_sync_at < timezone.now() + timedelta(seconds=6)
    assert link.change_seq == 1 and link.sync_state, "a change hint keeps the delta link: the sync is incremental"


def test_duplicate_notifications_do_not_push_the_sync_further_away(client, subscribed):
    link, subscription = subscribed
    post(client, NOTIFY, [change(subscription)])
    link.refresh_from_db()
    first_due = link.next_sync_at

    assert post(client, NOTIFY, [change(subscription), change(subscription)]).status_code == 202

    link.refresh_from_db()
    assert link.next_sync_at == first_due and link.change_seq == 2


@pytest.mark.parametrize("forgery", [{"client_state": "guessed"}, {"client_state": ""},
                                     {"tenant_id": "00000000-0000-0000-0000-000000000000"}])
def test_a_forged_notification_is_refused_and_changes_nothing(client, subscribed, forgery, caplog):
    link, subscription = subscribed
    with caplog.at_level(logging.WARNING):
        response = post(client, NOTIFY, [change(subscription, **forgery)])
    assert response.status_code == 403
    link.refresh_from_db()
    assert link.change_seq == 0 and link.next_sync_at > timezone.now() + timedelta(hours=9)
    assert "clientState or tenant mismatch" in caplog.text


def test_an_unknown_subscription_is_acknowledged_and_dropped(client, subscribed, caplog):
    link, subscription = subscribed
    with caplog.at_level(logging.WARNING):
        response = post(client, NOTIFY, [change(subscription, subscription_id="deleted-long-ago")])
    assert response.status_code == 202
    link.refresh_from_db()
    assert link.change_seq == 0
    assert "1 for unknown subscriptions (deleted-long-ago)" in caplog.text


def test_in_a_mixed_batch_only_the_genuine_item_acts(client, subscribed):
    link, subscription = subscribed
    response = post(client, NOTIFY, [change(subscription, client_state="forged"), change(subscription)])
    assert response.status_code == 202
    link.refresh_from_db()
    assert link.change_seq == 1


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"value": {}}', b'{"value": [{"changeType": "created"}]}',
                                  b"\xff\xfe"])
def test_malformed_bodies_get_400_not_500(client, subscribed, body):
    assert post(client, NOTIFY, body=body).status_code == 400
    assert post(client, LIFECYCLE, body=body).status_code == 400


def test_only_post_is_accepted(client):
    assert client.get(NOTIFY).status_code == 405
    assert client.get(LIFECYCLE + "?validationToken=x").status_code == 405


def test_a_notification_for_a_connection_without_consent_does_nothing(client, subscribed):
    link, subscription = subscribed
    CalendarConnection.objects.filter(pk=link.connection_id).update(status=ConnectionStatus.NEEDS_CONSENT)
    assert post(client, NOTIFY, [change(subscription)]).status_code == 202
    link.refresh_from_db()
    assert link.change_seq == 0


def test_missed_notifications_make_the_room_resync_in_full_now(client, subscribed):
    link, subscription = subscribed
    response = post(client, LIFECYCLE, [lifecycle_item(subscription, "missed")])
    assert response.status_code == 202
    link.refresh_from_db()
    assert link.sync_state == "" and link.next_sync_at <= timezone.now()


def test_a_removed_subscription_is_forgotten_and_the_room_resyncs(client, subscribed):
    link, subscription = subscribed
    response = post(client, LIFECYCLE, [lifecycle_item(subscription, "subscriptionRemoved")])
    assert response.status_code == 202
    assert not Subscription.objects.filter(pk=subscription.pk).exists()
    link.refresh_from_db()
    assert link.sync_state == "" and link.next_sync_at <= timezone.now()


def test_a_forged_lifecycle_event_cannot_remove_a_subscription(client, subscribed):
    link, subscription = subscribed
    response = post(client, LIFECYCLE, [lifecycle_item(subscription, "subscriptionRemoved", client_state="x")])
    assert response.status_code == 403
    assert Subscription.objects.filter(pk=subscription.pk).exists()


def test_the_endpoints_never_need_a_csrf_token_or_a_login(subscribed):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, NOTIFY, [change(subscribed[1])]).status_code == 202
    assert reverse("microsoft-notifications") == NOTIFY


def _hostile(url: str, subscription: Subscription, **fields) -> bytes:
    item = change(subscription) if url == NOTIFY else lifecycle_item(subscription, "missed")
    return json.dumps({"value": [{**item, **fields}]}).encode()


@pytest.mark.parametrize("url", [NOTIFY, LIFECYCLE])
@pytest.mark.parametrize(("what", "fields"), [
    ("year 1, +14:00", {"subscriptionExpirationDateTime": "0001-01-01T00:00:00+14:00"}),
    ("year 9999, -14:00", {"subscriptionExpirationDateTime": "9999-12-31T23:59:59-14:00"}),
    ("1,000 deep", None),
    ("a lone surrogate in subscriptionId", {"subscriptionId": "\ud800"}),
    ("a lone surrogate in clientState", {"clientState": "s3cr3t\udfff"}),
    ("a NUL byte in subscriptionId", {"subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07\x00"}),
    ("a NUL byte in clientState", {"clientState": "\x00"}),
])
def test_hostile_fields_are_a_400_with_a_log_line(client, subscribed, url, what, fields, caplog):
    link, subscription = subscribed
    body = _hostile(url, subscription, **fields) if fields else b'{"value": [' + b"[" * 1000 + b"]" * 1000 + b"]}"
    with caplog.at_level(logging.WARNING):
        response = post(client, url, body=body)
    assert response.status_code == 400, what
    assert [r for r in caplog.records if r.name.startswith("spaces_calendar") and "refused" in r.getMessage()], what
    link.refresh_from_db()
    assert link.change_seq == 0


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(client, subscribed, caplog):
    from spaces_calendar.providers.microsoft.notifications import MAX_BODY_BYTES

    with caplog.at_level(logging.WARNING):
        response = post(client, NOTIFY, body=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert "too large" in caplog.text


def test_a_batch_over_the_item_limit_is_refused(client, subscribed):
    from spaces_calendar.providers.microsoft.notifications import MAX_ITEMS

    link, subscription = subscribed
    assert post(client, NOTIFY, [change(subscription)] * MAX_ITEMS).status_code == 202
    assert post(client, NOTIFY, [change(subscription)] * (MAX_ITEMS + 1)).status_code == 400
    link.refresh_from_db()
    assert link.change_seq == 1, "the refused batch changed nothing"


@pytest.mark.parametrize("unknown", [10, 999])
def test_a_big_batch_logs_one_line_and_makes_a_bounded_number_of_queries(
        client, subscribed, unknown, caplog, django_assert_max_num_queries):
    link, subscription = subscribed
    items = [change(subscription, subscription_id=f"gone-{n}") for n in range(unknown)] + [change(subscription)]
    with caplog.at_level(logging.INFO), django_assert_max_num_queries(3):
        response = post(client, NOTIFY, items)
    assert response.status_code == 202
    ours = [r for r in caplog.records if r.name.startswith("spaces_calendar")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert f"{unknown} for unknown subscriptions" in ours[0].getMessage()
    link.refresh_from_db()
    assert link.change_seq == 1


def test_a_big_lifecycle_batch_logs_one_line_and_acts_once_per_subscription(
        client, subscribed, caplog, django_assert_max_num_queries):
    link, subscription = subscribed
    items = [lifecycle_item(subscription, "missed")] * 500 + [
        {**lifecycle_item(subscription, "missed"), "subscriptionId": f"gone-{n}"} for n in range(499)]
    with caplog.at_level(logging.INFO), django_assert_max_num_queries(3):
        response = post(client, LIFECYCLE, items)
    assert response.status_code == 202
    ours = [r for r in caplog.records if r.name.startswith("spaces_calendar")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    link.refresh_from_db()
    assert link.change_seq == 1 and link.sync_state == ""
