"""The worlds of the provider contract (``test_provider_contract.py``): one fixture per registered provider, named
``contract_world_<key>``, each its provider's own fake on real sockets, scripted through the same few verbs.

A new provider registers here: a class with :class:`ContractWorld`'s methods and a ``contract_world_<key>`` fixture
that starts its fake, points the settings at it and makes an active connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from django.utils import timezone

from spaces_calendar.calendars.models import CalendarConnection, ConnectionStatus, Provider
from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, FakeServer, ca_bundle_path
from tests.factories import make_tenant


class ContractWorld(Protocol):
    """What the contract asks of a provider's fake, in neutral words. Times are aware datetimes."""

    connection: CalendarConnection

    def add_room(self, address: str, name: str, capacity: int, *, building: str = "", floor: str = "",
                 listed: bool = True) -> None:
        """A room calendar; ``listed=False``: one the directory does not list (it still answers by address)."""

    def add_meeting(self, room: str, subject: str, start: datetime, end: datetime) -> str:
        """Book the room; returns the meeting's id as the provider reports it."""

    def move_meeting(self, room: str, meeting_id: str, start: datetime, end: datetime) -> None: ...

    def cancel_meeting(self, room: str, meeting_id: str) -> None: ...

    def expire_sync_state(self) -> None:
        """The provider forgets every incremental-sync token it handed out (Graph and Google answer 410)."""

    def revoke_access(self) -> None:
        """The customer's admin withdraws our access."""

    def throttle(self, times: int, retry_after_s: float) -> None:
        """The next ``times`` calendar API requests are refused as too many, asking for ``retry_after_s``."""

    def subscription_exists(self, external_id: str) -> bool: ...

    def forget_subscription(self, external_id: str) -> None:
        """The provider drops a subscription on its side (expired, or removed by an admin)."""


# --- Microsoft 365 ----------------------------------------------------------------------------------------------

class MicrosoftWorld:
    def __init__(self, fake: FakeMicrosoft, connection: CalendarConnection):
        self.fake = fake
        self.connection = connection

    def add_room(self, address: str, name: str, capacity: int, *, building: str = "", floor: str = "",
                 listed: bool = True) -> None:
        self.fake.add_room(address, name, capacity, hidden=not listed, building=building or None,
                           floorNumber=int(floor) if floor else None)

    def add_meeting(self, room: str, subject: str, start: datetime, end: datetime) -> str:
        return self.fake.add_event(room, subject, _naive_utc(start), _naive_utc(end))["id"]

    def move_meeting(self, room: str, meeting_id: str, start: datetime, end: datetime) -> None:
        self.fake.update_event(room, meeting_id, start=_naive_utc(start), end=_naive_utc(end))

    def cancel_meeting(self, room: str, meeting_id: str) -> None:
        self.fake.delete_event(room, meeting_id)  # a room mailbox drops a cancelled meeting: delta says @removed

    def expire_sync_state(self) -> None:
        self.fake.expire_delta_tokens()

    def revoke_access(self) -> None:
        self.fake.revoke_consent()

    def throttle(self, times: int, retry_after_s: float) -> None:
        self.fake.throttle(r"/.*", retry_after=str(retry_after_s), times=times)

    def subscription_exists(self, external_id: str) -> bool:
        return external_id in self.fake.subscriptions

    def forget_subscription(self, external_id: str) -> None:
        self.fake.subscriptions.pop(external_id, None)


def _naive_utc(moment: datetime) -> datetime:
    """The fake takes naive local times in the event's ``timeZone``, UTC by default."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _answer_like_our_webhook(request: FakeRequest) -> FakeResponse:
    """Graph validates a new subscription by calling its notification URL back with a token to echo."""
    token = request.arg("validationToken")
    return FakeResponse.text(token) if token is not None else FakeResponse.empty(202)


@pytest.fixture
def contract_world_microsoft(db, settings) -> Iterator[Any]:
    with FakeMicrosoft() as fake, FakeServer(name="our-webhook") as webhook:
        for path in ("/webhooks/microsoft/notifications", "/webhooks/microsoft/lifecycle"):
            webhook.add_route("POST", path, _answer_like_our_webhook)
        settings.MICROSOFT_LOGIN_URL = fake.login_url
        settings.MICROSOFT_GRAPH_URL = fake.graph_url
        settings.MICROSOFT_CLIENT_ID = fake.client_id
        settings.MICROSOFT_CLIENT_SECRET = fake.client_secret
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        settings.PUBLIC_BASE_URL = webhook.base_url
        connection = CalendarConnection.objects.create(
            tenant=make_tenant("Contoso"), provider=Provider.MICROSOFT, external_tenant_id=fake.tenant_id,
            status=ConnectionStatus.ACTIVE, consented_at=timezone.now())
        yield MicrosoftWorld(fake, connection)
        ms_client.forget_tenant(fake.tenant_id)
        fake.login.raise_errors()
        fake.graph.raise_errors()
