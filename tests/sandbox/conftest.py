from collections.abc import Iterator

import pytest

from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.harness import FakeServer, ca_bundle_path
from spaces_calendar.sandbox.runner import Sandbox, start_sandbox
from tests.microsoft.conftest import answer_like_our_webhook


def point_settings_at(settings, running: Sandbox) -> None:
    """What the sandbox settings do for a real run, for fakes on free ports and the test CA."""
    settings.SANDBOX = True
    settings.MICROSOFT_LOGIN_URL = running.fake("microsoft").login_url
    settings.MICROSOFT_GRAPH_URL = running.fake("microsoft").graph_url
    settings.MICROSOFT_CLIENT_ID = config.MICROSOFT_CLIENT_ID
    settings.MICROSOFT_CLIENT_SECRET = config.MICROSOFT_CLIENT_SECRET
    settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    if running.spaces is not None:
        settings.SANDBOX_SPACES_URL = running.spaces.base_url
        settings.SPACES_PARTNER_HOSTS = {**settings.SPACES_PARTNER_HOSTS, running.spaces.base_url: "sandbox"}
        settings.SPACES_APP_ID = config.SPACES_APP_ID
        settings.SPACES_FIREHOSE_URL = running.spaces.base_url
        settings.SPACES_API_KEY = None


@pytest.fixture
def sandbox(settings) -> Iterator[Sandbox]:
    """The sandbox runner in-process on free ports, with our settings pointing at it."""
    running = start_sandbox(ports={})
    fake = running.fake("microsoft")
    point_settings_at(settings, running)
    try:
        yield running
    finally:
        running.stop()
        ms_client.forget_tenant(config.MICROSOFT_TENANT_ID)
    fake.login.raise_errors()
    fake.graph.raise_errors()


@pytest.fixture
def webhook() -> Iterator[FakeServer]:
    """Stands in for our notification endpoint: answers Graph's validation handshake, then takes notifications."""
    with FakeServer(name="our-webhook") as server:
        server.add_route("POST", "/webhooks/microsoft/notifications", answer_like_our_webhook)
        yield server
