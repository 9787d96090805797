"""Every webhook endpoint the URLconf has survives the shared fuzz (``tests/webhook_fuzz.py``), and none is missed.

A new endpoint under ``webhooks/`` (or a partner endpoint taking POSTs, or any other CSRF-exempt view) makes
``test_every_endpoint_taking_posts_from_outside_is_fuzzed`` fail until a spec for it is registered below.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, ConnectionStatus, Provider, Subscription
from spaces_calendar.providers.microsoft.notifications import MAX_BODY_BYTES, MAX_ITEMS
from tests import webhook_fuzz
from tests.factories import make_room, make_tenant
from tests.webhook_fuzz import WebhookSpec, register

pytestmark = pytest.mark.django_db
GRAPH_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "microsoft-graph"
ENTRA_TENANT = "84bd8158-6d4d-4958-8b9f-9d6445542f95"


def graph_subscription() -> Subscription:
    """A room linked to Graph with a live subscription, due for its daily sync in ten hours."""
    tenant = make_tenant()
    connection = CalendarConnection.objects.create(tenant=tenant, provider=Provider.MICROSOFT,
                                                   external_tenant_id=ENTRA_TENANT, status=ConnectionStatus.ACTIVE)
    room = make_room(tenant, "Fjord")
    link = CalendarLink.objects.create(connection=connection, room=room, external_calendar_id=room.email,
                                       next_sync_at=timezone.now() + timedelta(hours=10),
                                       sync_state="https://graph/delta?$deltatoken=abc")
    return Subscription.objects.create(link=link, external_id="7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                                       resource=f"/users/{room.email}/events", client_state="s3cr3t-state",
                                       expires_at=timezone.now() + timedelta(days=6))


def graph_item(fixture: str, subscription: Subscription) -> dict:
    item = json.loads((GRAPH_FIXTURES / fixture).read_text())["value"][0]
    item.update(subscriptionId=subscription.external_id, clientState=subscription.client_state, tenantId=ENTRA_TENANT)
    return item


def graph_state() -> tuple:
    """What Graph's webhooks may write: when links sync and from what, and the subscriptions."""
    links = CalendarLink.objects.order_by("pk").values_list("pk", "change_seq", "next_sync_at", "sync_state",
                                                            "claimed_until")
    subscriptions = Subscription.objects.order_by("pk").values_list("pk", "external_id", "client_state", "expires_at")
    return tuple(links), tuple(subscriptions)


GRAPH = {"setup": graph_subscription, "state": graph_state, "success": frozenset({202}),
         "secret_keys": frozenset({"subscriptionId", "clientState"}), "max_body_bytes": MAX_BODY_BYTES,
         "batch_key": "value", "max_items": MAX_ITEMS, "logger": "spaces_calendar.providers.microsoft"}
register(WebhookSpec(url_name="microsoft-notifications", **GRAPH,
                     valid=lambda sub: {"value": [graph_item("change-notification.request.json", sub)]}))
register(WebhookSpec(url_name="microsoft-lifecycle", **GRAPH,
                     valid=lambda sub: {"value": [graph_item("lifecycle-missed.request.json", sub)]}))


def test_every_endpoint_taking_posts_from_outside_is_fuzzed():
    discovered = webhook_fuzz.discover(Client())
    assert {"microsoft-notifications", "microsoft-lifecycle"} <= set(discovered), discovered
    unregistered = {name: route for name, route in discovered.items() if name not in webhook_fuzz.REGISTRY}
    assert not unregistered, f"register a WebhookSpec in {__name__} for {unregistered}"


def test_discovery_finds_what_it_should_and_nothing_else():
    discovered = webhook_fuzz.discover(Client())
    assert not [route for route in discovered.values() if route.startswith(("api/", "admin/", "accounts/"))]
    assert "partner/health/app" not in discovered.values(), "a GET-only partner endpoint takes no POSTs"


@pytest.mark.parametrize("url_name", sorted(webhook_fuzz.REGISTRY))
def test_the_webhook_survives_the_fuzz(url_name):
    sent = webhook_fuzz.fuzz(Client(enforce_csrf_checks=True), webhook_fuzz.REGISTRY[url_name])
    assert sent > 200
