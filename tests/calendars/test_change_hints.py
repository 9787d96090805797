"""Change hints from webhooks: the rooms marked due at once, one dispatch queued per debounce window, none lost."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.utils import timezone

from spaces_calendar.calendars import sync
from spaces_calendar.calendars.change_hints import dispatch_time
from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, ConnectionStatus, Provider, Subscription
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "microsoft-graph" / "change-notification.request.json"


@pytest.fixture
def published():
    """Every task the code under test sends to the broker (Celery's own signal: the messages still go out)."""
    sent: list[dict] = []

    def keep(sender=None, headers=None, **kwargs):
        sent.append({"task": sender, "eta": headers.get("eta")})

    before_task_publish.connect(keep, weak=False)
    yield sent
    before_task_publish.disconnect(keep)


@pytest.fixture
def rooms():
    tenant = make_tenant()
    connection = CalendarConnection.objects.create(tenant=tenant, provider=Provider.MICROSOFT,
                                                   external_tenant_id="t", status=ConnectionStatus.ACTIVE)
    subscriptions = []
    for n in range(5):
        room = make_room(tenant)
        link = CalendarLink.objects.create(connection=connection, room=room, external_calendar_id=room.email,
                                           next_sync_at=timezone.now() + timedelta(hours=30))
        subscriptions.append(Subscription.objects.create(
            link=link, external_id=f"sub-{n}", resource=f"/users/{room.email}/events", client_state=f"state-{n}",
            expires_at=timezone.now() + timedelta(days=6)))
    return subscriptions


def notify(client, subscription: Subscription):
    item = json.loads(FIXTURE.read_text())["value"][0]
    item.update(subscriptionId=subscription.external_id, clientState=subscription.client_state, tenantId="t")
    return client.post("/webhooks/microsoft/notifications", data=json.dumps({"value": [item]}),
                       content_type="application/json")


def test_the_dispatch_time_is_after_every_hint_of_its_window_has_made_its_room_due():
    for debounce in (1, 5, 7.5):
        window_start = 1_000_000 * debounce
        times = [window_start, window_start + debounce * 0.5, window_start + debounce * 0.999999]
        assert len({dispatch_time(now, debounce) for now in times}) == 1, "one dispatch for the whole window"
        assert all(now + debounce <= dispatch_time(now, debounce) for now in times), "each hint's room is due by then"
        assert dispatch_time(window_start + debounce, debounce) == dispatch_time(window_start, debounce) + debounce


def test_many_notifications_in_one_window_queue_one_dispatch_that_finds_every_room_due(
        client, settings, rooms, published):
    # An odd debounce of its own, so no other test in this process has queued for the same window.
    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 3593
    for _ in range(4):
        for subscription in rooms:
            assert notify(client, subscription).status_code == 202

    dispatches = [task for task in published if task["task"] == "calendars.dispatch_due_syncs"]
    assert len(dispatches) == 1, published
    eta = datetime.fromisoformat(dispatches[0]["eta"])
    links = list(CalendarLink.objects.filter(pk__in=[subscription.link_id for subscription in rooms]))
    assert all(link.change_seq == 4 for link in links), "every notification was counted"
    assert all(link.next_sync_at <= eta for link in links), "the one dispatch finds every room due"
    claimed = [pk for _, ids in sync.claim_due(now=eta) for pk in ids]
    assert sorted(claimed) == sorted(link.pk for link in links)


def test_the_next_window_queues_its_own_dispatch(client, settings, rooms, published):
    from spaces_calendar.calendars import change_hints

    settings.CALENDAR_NOTIFICATION_DEBOUNCE_S = 3607
    now = (timezone.now().timestamp() // 3607 + 2) * 3607 + 10  # early in a window, so now + 1 is in it too
    assert change_hints.dispatch_after_debounce(now) is True
    assert change_hints.dispatch_after_debounce(now + 1) is False
    assert change_hints.dispatch_after_debounce(now + 3607) is True
    assert len([task for task in published if task["task"] == "calendars.dispatch_due_syncs"]) == 2
