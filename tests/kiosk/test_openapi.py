"""The kiosk API in the OpenAPI schema, the browsable docs (offline), and a schemathesis run against the app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from spaces_calendar.api_tokens.tokens import issue_token
from tests.factories import make_user
from tests.occupancy.test_reports_fixtures import outcome

from .conftest import book, minutes, sense

KIOSK_OPERATIONS = {"kiosk_room_status", "kiosk_room_status_list", "kiosk_available_rooms"}
BOOKINGS_OPERATIONS = {"bookings_list", "bookings_csv"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def test_every_kiosk_operation_is_documented_with_the_bearer_token(db):
    schema = Client().get("/api/schema/?format=json").json()
    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}
    assert set(operations) >= KIOSK_OPERATIONS
    for name in KIOSK_OPERATIONS:
        operation = operations[name]
        assert operation["security"] == [{"kioskToken": []}] and operation["summary"], name
        assert {"200", "400", "401", "403", "404", "429"} <= set(operation["responses"]), name
    assert schema["components"]["securitySchemes"]["kioskToken"] == {
        "type": "http", "scheme": "bearer", "description": "A kiosk token (`kt_…`) issued by a tenant admin at "
                                                             "/kiosk-tokens/."}
    assert not [path for path in schema["paths"] if "{rest}" in path]


def test_the_docs_page_uses_only_assets_served_here(db):
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"(src|href)=\"https?://", html)
    # Swagger UI's start-up script comes from this page's own URL (?script), not inline (Content-Security-Policy).
    script = Client().get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript") and "/api/schema/" in script.content.decode()
    for asset in re.findall(r"(?:src|href)=\"(/api/docs/assets/[^\"]+)\"", html):
        response = Client().get(asset)
        assert response.status_code == 200 and b"".join(response.streaming_content), asset
    assert Client().get("/api/docs/assets/..%2Fsettings.py").status_code == 404


@pytest.fixture
def in_process_wsgi():
    """Like Django's test client: the app must not close the test's database connection after each request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def kiosk_schema(world, kiosk_for, settings, in_process_wsgi):
    settings.KIOSK_RATE_LIMIT = 0
    kiosk = kiosk_for(building=world.hq)
    now = timezone.now()
    book(world.fjord, now - minutes(10), now + minutes(20), subject="Planning")
    book(world.fjord, now + minutes(20), now + minutes(50))
    book(world.glacier, now + minutes(60), now + minutes(90), private=True)
    sense(world.fjord, present=True, people=3)
    sense(world.harbor, present=None, people=-1, source="spaces_camera")
    schema = schemathesis.openapi.from_wsgi("/api/schema/", in_process_wsgi).include(path_regex=r"^/api/v1/rooms")
    return schema, {"Authorization": f"Bearer {kiosk.raw}"}


FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(world, kiosk_schema):
    schema, auth = kiosk_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.definition.raw["operationId"] for operation in operations} == KIOSK_OPERATIONS
    soon = timezone.now() + minutes(60)
    fixed = {"kiosk_room_status": {"path_parameters": {"room_id": world.fjord.pk}},
             "kiosk_room_status_list": {"query": {"building": world.hq.pk}},
             "kiosk_available_rooms": {"query": {"from": soon.isoformat(), "to": (soon + minutes(30)).isoformat()}}}
    fuzz(operations, auth, fixed)


def fuzz(operations: list, headers: dict[str, str], fixed: dict[str, dict]) -> None:
    """Valid and invalid requests for each operation, plus ones with ``fixed`` values (known ids, so that the
    200s are checked too), each answer held against the schema."""
    for operation in operations:
        strategies = [operation.as_strategy(), operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)]
        if operation.definition.raw["operationId"] in fixed:
            strategies.append(operation.as_strategy(**fixed[operation.definition.raw["operationId"]]))
        for strategy in strategies:

            @FUZZ
            @given(case=strategy)
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()


def test_schemathesis_covers_the_bookings_api_with_a_token(world, in_process_wsgi):
    viewer = make_user(world.acme)
    auth = {"Authorization": f"Token {issue_token(viewer, 'schemathesis')[1]}"}
    now = timezone.now()
    outcome(world.fjord, now - minutes(120), kind="attended", series="=1+1")
    outcome(world.fjord, now - minutes(60), kind="unknown", evidence={})  # evidence written before it had keys
    outcome(world.glacier, now - minutes(60), kind="ghost", final=False)
    outcome(world.dock, now - minutes(30), kind="early_end")
    outcome(world.war_room, now - minutes(120))
    schema = schemathesis.openapi.from_wsgi("/api/schema/", in_process_wsgi).include(path_regex=r"^/api/v1/bookings")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.definition.raw["operationId"] for operation in operations} == BOOKINGS_OPERATIONS
    # Every filter valid and matching rows (only the organiser is left to chance), so that 200s with rows of
    # every shape are checked against the schema.
    today = timezone.localdate(timezone=world.fjord.zone)
    known = {"query": {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(),
                       "building": world.hq.pk, "floor": world.first.pk, "room": world.fjord.pk,
                       "outcome": ["attended", "unknown", "ghost"], "page": 1, "page_size": 10}}
    fuzz(operations, auth, {"bookings_list": known, "bookings_csv": known})


def test_unknown_paths_under_the_api_are_json_404s(world, kiosk_for):
    kiosk = kiosk_for(building=world.hq)
    for path in ("/api/v1/rooms/1/2/status", "/api/v1/rooms/1/statuses", "/api/v1/rooms/%2F/status"):
        response = kiosk.get(path)
        assert response.status_code == 404 and response.json() == {"detail": "No such endpoint."}, path


# --------------------------------------------------------------------------------------------------------
# Every operation of /api/schema/, every check (the CLI's `--checks all`), every phase (examples, coverage, fuzzing)
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def api_world(world, kiosk_for, settings, in_process_wsgi):
    """Rows for every API to answer with (bookings, outcomes, sensors), a kiosk token and a signed-in viewer."""
    settings.KIOSK_RATE_LIMIT = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    now = timezone.now()
    book(world.fjord, now - minutes(10), now + minutes(20), subject="Planning")
    book(world.glacier, now + minutes(60), now + minutes(90), private=True)
    sense(world.fjord, present=True, people=3)
    outcome(world.fjord, now - minutes(120), kind="attended", series="=1+1")
    outcome(world.glacier, now - minutes(60), kind="ghost", final=False)
    viewer = make_user(world.acme)
    browser = Client()
    browser.force_login(viewer)
    return {"kiosk": {"Authorization": f"Bearer {kiosk_for(building=world.hq).raw}"},
            "session": {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}}


@pytest.mark.django_db(transaction=True)
def test_schemathesis_with_every_check_finds_nothing_on_any_operation(api_world, live_server, tmp_path):
    """The CLI as one would run it by hand: every operation of /api/schema/, `--checks all`, the examples, coverage
    and fuzzing phases, against a live server holding the rows above. The hooks module drops only 400s for the
    documented rules between parameters that a schema cannot state (see its docstring)."""
    root = Path(__file__).resolve().parents[2]
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--no-color", "run", f"{live_server.url}/api/schema/",
        "--checks", "all", "--phases", "examples,coverage,fuzzing", "--max-examples", "30", "--seed", "13",
        "--workers", "1", "--generation-database", "none",
        "--header", f"Authorization: {api_world['kiosk']['Authorization']}",
        "--header", f"Cookie: {api_world['session']['Cookie']}",
    ]
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(root)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,  # noqa: S603
                            env=environment)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "7 selected / 7 total" in result.stdout, "every operation of the schema is run"
