"""The sandbox drives the demo tenant's fake calendars and sensors: only that tenant's members may use it.

Every URL under ``/sandbox/`` is found by walking the URLconf, so a sandbox URL added later is covered without
touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from spaces_calendar.core.models import Role
from spaces_calendar.sandbox.runner import Sandbox, start_sandbox
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.factories import make_tenant, make_user
from tests.sandbox.conftest import point_settings_at

pytestmark = pytest.mark.django_db
FJORD = "fjord@sandbox-demo.example.com"
#: Values for the path parameters of sandbox URLs: every value a view acts on, so each branch is reached.
SAMPLES = {"action": ["add", "move", "cancel"]}
CONVERTER_SAMPLES = {"int": ["1"], "slug": ["x"], "str": ["x"], "path": ["x/y"], "uuid": [
    "00000000-0000-0000-0000-000000000000"]}
FORM = {"room": FJORD, "event_id": "AAMkAD-any", "minutes": "30", "subject": "Leak"}


def _routes(patterns, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _expand(route: str) -> list[str]:
    """Every concrete path of a route, with its ``<converter:name>`` parts replaced by sample values."""
    match = re.search(r"<(?:(\w+):)?(\w+)>", route)
    if match is None:
        return ["/" + route]
    converter, name = match.group(1) or "str", match.group(2)
    values = SAMPLES.get(name) or CONVERTER_SAMPLES[converter]
    return [path for value in values for path in _expand(route[:match.start()] + value + route[match.end():])]


def sandbox_paths() -> list[str]:
    paths = sorted({path for route in _routes(get_resolver().url_patterns) if route.startswith("sandbox/")
                    for path in _expand(route)})
    assert len(paths) >= 5, paths  # the page, three meeting actions and the Spaces token, at least
    return paths


@pytest.fixture
def running(settings) -> Iterator[Sandbox]:
    started = start_sandbox(ports={}, spaces_port=0, spaces_interval_s=60)
    point_settings_at(settings, started)
    try:
        yield started
    finally:
        started.stop()


def fake_requests(sandbox: Sandbox) -> int:
    """Requests the fakes' own servers have taken: anything the sandbox page reads or changes goes through one."""
    servers = [sandbox.fake("microsoft").graph, sandbox.fake("microsoft").login, sandbox.spaces.partner.server]
    return sum(len(server.requests) for server in servers)


@pytest.mark.parametrize("path", sandbox_paths())
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_tenants_admin_cannot_use_any_sandbox_url(client, running, path, method):
    seed_demo_tenant()
    client.force_login(make_user(make_tenant("Initech"), Role.ADMIN))
    before = fake_requests(running)

    response = getattr(client, method)(path, FORM)

    assert response.status_code == 404, (path, response.status_code)
    assert fake_requests(running) == before, "the fakes were asked on another tenant's behalf"
    assert "Fjord" not in response.text


@pytest.mark.parametrize("path", sandbox_paths())
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_tenants_superuser_cannot_use_it_either(client, running, path, method):
    seed_demo_tenant()
    client.force_login(make_user(make_tenant("Initech"), Role.ADMIN, is_superuser=True))

    response = getattr(client, method)(path, FORM)

    assert response.status_code == 404, (path, response.status_code)


@pytest.mark.parametrize("path", sandbox_paths())
def test_the_demo_tenants_admin_reaches_every_sandbox_url(client, running, path):
    """The other side of the tests above: the same requests, from the demo tenant's admin, reach the sandbox."""
    client.force_login(make_user(seed_demo_tenant(), Role.ADMIN))
    before = fake_requests(running)

    get, post = client.get(path, FORM), client.post(path, FORM)

    assert {get.status_code, post.status_code} <= {200, 302, 405}, (path, get.status_code, post.status_code)
    assert fake_requests(running) > before


def test_the_navigation_offers_the_sandbox_only_to_the_demo_tenant(client, running):
    seed_demo_tenant()
    client.force_login(make_user(make_tenant("Initech"), Role.ADMIN))
    assert ">Sandbox</a>" not in client.get("/").text

    client.force_login(make_user(seed_demo_tenant(), Role.ADMIN))
    assert ">Sandbox</a>" in client.get("/").text
