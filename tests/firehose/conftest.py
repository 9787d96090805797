from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections

from firehose.receiver import Credentials, Receiver
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.sandbox.harness import ca_bundle_path
from tests.factories import make_room, make_tenant

API_KEY = "fake-spaces-api-key"


@pytest.fixture
def firehose(settings) -> Iterator[FakeFirehose]:
    settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    settings.FIREHOSE_FLUSH_INTERVAL_S = 0.05
    settings.FIREHOSE_BACKOFF_BASE_S = 0.01
    settings.FIREHOSE_BACKOFF_MAX_S = 0.05
    settings.FIREHOSE_SILENCE_TIMEOUT_S = 2.0
    with FakeFirehose(api_keys=(API_KEY,)) as fake:
        fake.keepalive_interval = 0.2
        yield fake
        fake.server.raise_errors()


@pytest.fixture
def office():
    """A tenant with rooms mapped to Spaces locations and Webex workspaces, and another tenant's room."""
    tenant = make_tenant("Contoso")
    rooms = {
        "fjord": make_room(tenant, "Fjord", spaces_location_id="loc-fjord", webex_workspace_id="ws-fjord"),
        "glacier": make_room(tenant, "Glacier", spaces_location_id="loc-glacier"),
    }
    other = make_tenant("Elsewhere")
    rooms["foreign"] = make_room(other, "Foreign", spaces_location_id="loc-foreign")
    return tenant, rooms


def credentials_for(fake: FakeFirehose, tenant_id: int, *, api_key: str = API_KEY, refused=None) -> Credentials:
    spaces_tenant = fake.spaces_tenant_id

    def resolve(spaces_tenant_id: str) -> int | None:
        return tenant_id if spaces_tenant_id == spaces_tenant else None

    return Credentials("test", api_key, fake.base_url, resolve, refused or (lambda reason: None))


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    """The receiver in its own thread (with its own database connection), stopped and joined on exit."""
    def target() -> None:
        try:
            receiver.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the receiver did not stop"
