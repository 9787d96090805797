"""Change subscriptions against the fake Graph, whose validation handshake really calls our live endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from spaces_calendar.calendars import subscriptions
from spaces_calendar.calendars.linking import unlink_calendar
from spaces_calendar.calendars.models import Booking, CalendarLink, Subscription, ValidationWindow
from tests.factories import make_tenant

from .sync_helpers import connect, linked_room

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def graph(fake_microsoft, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    connection = connect(make_tenant("Contoso"), fake_microsoft)
    return fake_microsoft, connection



def test_a_link_gets_one_subscription_after_graph_validated_our_endpoints(graph, live_server):
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")

    subscription = subscriptions.reconcile_link(link)

    assert subscription is not None
    remote = fake.subscriptions[subscription.external_id]
    assert remote.client_state == subscription.client_state and len(subscription.client_state) <= 128
    assert remote.change_type == "created,updated,deleted"
    assert remote.resource == f"/users/{link.external_calendar_id}/events"
    assert remote.notification_url == f"{live_server.url}/webhooks/microsoft/notifications"
    assert remote.lifecycle_url == f"{live_server.url}/webhooks/microsoft/lifecycle"
    assert timedelta(days=6, hours=23) < subscription.expires_at - timezone.now() <= timedelta(minutes=10_080)
    assert [(status, answer == token) for _, token, status, answer in fake.validations] == [(200, True), (200, True)]
    assert not ValidationWindow.objects.exists(), "the handshake window closes once the subscription exists"

    assert subscriptions.reconcile_link(link) == subscription, "reconciling again creates nothing"
    assert len(fake.subscriptions) == 1


def test_duplicate_subscriptions_converge_to_one(graph):
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")
    first = subscriptions.reconcile_link(link)
    Subscription.objects.filter(pk=first.pk).delete()  # as if a retry after a timeout subscribed again
    second = subscriptions.reconcile_link(link)
    Subscription.objects.create(link=link, external_id=first.external_id, resource=first.resource,
                                client_state=first.client_state, expires_at=first.expires_at)

    kept = subscriptions.reconcile_link(link)

    assert Subscription.objects.filter(link=link).count() == 1
    assert set(fake.subscriptions) == {kept.external_id}
    assert kept.external_id in (first.external_id, second.external_id)


def test_maintenance_renews_expiring_ones_and_subscribes_bare_links(graph, settings):
    fake, connection = graph
    expiring = linked_room(connection, fake, "Fjord")
    bare = linked_room(connection, fake, "Glacier")
    subscription = subscriptions.reconcile_link(expiring)
    soon = timezone.now() + timedelta(hours=12)
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=soon)

    report = subscriptions.maintain()

    assert report.renewed == 1 and report.created == 1 and report.failed == 0
    subscription.refresh_from_db()
    assert subscription.expires_at > timezone.now() + timedelta(days=6)
    assert fake.subscriptions[subscription.external_id].expires_at == subscription.expires_at
    assert Subscription.objects.filter(link=bare).count() == 1


def test_a_subscription_graph_forgot_is_recreated_and_the_room_resynced(graph):
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")
    CalendarLink.objects.filter(pk=link.pk).update(sync_state="x", next_sync_at=timezone.now() + timedelta(hours=9))
    subscription = subscriptions.reconcile_link(link)
    del fake.subscriptions[subscription.external_id]

    replacement = subscriptions.renew(subscription)

    assert replacement is not None and replacement.external_id != subscription.external_id
    assert set(fake.subscriptions) == {replacement.external_id}
    link.refresh_from_db()
    assert link.sync_state == "" and link.next_sync_at <= timezone.now()


def test_subscriptions_can_be_switched_off(graph, settings):
    fake, connection = graph
    settings.CALENDAR_SUBSCRIPTIONS = False
    link = linked_room(connection, fake, "Fjord")
    assert subscriptions.reconcile_link(link) is None and subscriptions.maintain().created == 0
    assert fake.subscriptions == {}


def test_unlinking_deletes_the_subscription_at_graph_and_future_bookings(graph, eager_tasks):
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")
    subscriptions.reconcile_link(link)
    now = timezone.now()
    past = Booking.objects.create(room=link.room, link=link, external_id="past", start=now - timedelta(hours=3),
                                  end=now - timedelta(hours=2))
    Booking.objects.create(room=link.room, link=link, external_id="future", start=now + timedelta(hours=2),
                           end=now + timedelta(hours=3))

    unlink_calendar(link)

    assert fake.subscriptions == {}
    assert list(Booking.objects.values_list("external_id", flat=True)) == [past.external_id]
    assert not CalendarLink.objects.exists()


def test_graph_notifications_reach_our_endpoint_and_make_the_room_due(graph, settings):
    fake, connection = graph
    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 2
    link = linked_room(connection, fake, "Fjord")
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now() + timedelta(hours=9))
    subscriptions.reconcile_link(link)
    event = fake.add_event(link.external_calendar_id, "Standup", "2026-11-23T09:00:00", "2026-11-23T09:15:00")

    assert fake.notify(link.external_calendar_id, "created", event["id"]) == 202

    link.refresh_from_db()
    assert link.change_seq == 1 and link.next_sync_at <= timezone.now() + timedelta(seconds=2)


def test_reauthorization_required_renews_the_subscription(graph, eager_tasks):
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")
    subscription = subscriptions.reconcile_link(link)
    short = timezone.now() + timedelta(minutes=30)
    fake.subscriptions[subscription.external_id].expires_at = short
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=short)

    assert fake.lifecycle(subscription.external_id, "reauthorizationRequired") == 202

    subscription.refresh_from_db()
    assert subscription.expires_at > timezone.now() + timedelta(days=6)
    assert fake.subscriptions[subscription.external_id].expires_at == subscription.expires_at


def test_subscription_removed_by_graph_is_recreated(graph, eager_tasks, settings):
    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 0
    fake, connection = graph
    link = linked_room(connection, fake, "Fjord")
    subscription = subscriptions.reconcile_link(link)

    assert fake.lifecycle(subscription.external_id, "subscriptionRemoved") == 202

    (replacement,) = Subscription.objects.filter(link=link)
    assert replacement.external_id != subscription.external_id
    assert set(fake.subscriptions) == {replacement.external_id}
