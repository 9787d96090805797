from collections.abc import Iterator

import pytest

from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, ca_bundle_path


@pytest.fixture
def fake_microsoft(settings) -> Iterator[FakeMicrosoft]:
    """A running fake Entra + Graph, with our settings pointing at it (TLS trusted through the test CA)."""
    with FakeMicrosoft() as fake:
        settings.MICROSOFT_LOGIN_URL = fake.login_url
        settings.MICROSOFT_GRAPH_URL = fake.graph_url
        settings.MICROSOFT_CLIENT_ID = fake.client_id
        settings.MICROSOFT_CLIENT_SECRET = fake.client_secret
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        yield fake
        ms_client.forget_tenant(fake.tenant_id)
        fake.login.raise_errors()
        fake.graph.raise_errors()


def answer_like_our_webhook(request: FakeRequest) -> FakeResponse:
    """Stand-in for our notification endpoint: echo Graph's validation token, accept notifications with 202."""
    token = request.arg("validationToken")
    return FakeResponse.text(token) if token is not None else FakeResponse.empty(202)
