"""The sandbox's fake Cisco Spaces end to end: the runner serves it, a token from its control route activates our
partner app, and the Firehose receiver turns the simulated occupancy into signals for the demo rooms."""

import json
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests
from django.urls import reverse

from firehose.credentials import stream_named
from firehose.receiver import Receiver
from occupancy.intake import RoomKey, Signal, record
from occupancy.models import OccupancySignal, RoomSourceState
from spaces_calendar.core.models import Role, Room
from spaces_calendar.partner import client as partner_client
from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.models import ActivationStatus
from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.sandbox import config, controls_client
from spaces_calendar.sandbox import spaces_demo as demo
from spaces_calendar.sandbox.harness import ca_bundle_path
from spaces_calendar.sandbox.runner import Sandbox, start_sandbox
from spaces_calendar.sandbox.seed import seed_demo_tenant
from spaces_calendar.sandbox.spaces_controls import CONTROL_PREFIX
from spaces_calendar.sandbox.spaces_runner import API_KEYS_FILE, SIGNING_KEY_FILE
from tests.factories import make_user
from tests.firehose.conftest import running
from tests.sandbox.conftest import point_settings_at
from tests.worker import wait_for


def outage_at(start: datetime, seconds: float) -> tuple[str, str]:
    """The nightly outage moved to ``start`` (local), as the ``NIGHTLY_OUTAGE`` strings give it."""
    local = start.astimezone(demo.ZONE)
    return local.strftime("%H:%M:%S"), (local + timedelta(seconds=seconds)).strftime("%H:%M:%S")


@pytest.fixture
def spaces_sandbox(settings, tmp_path, monkeypatch) -> Iterator[Sandbox]:
    """The runner with the fake Cisco Spaces on a free port, live rounds every second, state kept in tmp_path, and
    the nightly outage moved twelve hours away from whenever the test runs."""
    monkeypatch.setattr(demo, "NIGHTLY_OUTAGE", outage_at(datetime.now(demo.ZONE) + timedelta(hours=12), 5400))
    partner_client.forget_public_keys()
    settings.FIREHOSE_FLUSH_INTERVAL_S = 0.05
    settings.FIREHOSE_INITIAL_LOOKBACK_S = 3600  # enough of the replay to prove it, without a whole day's worth
    started = start_sandbox(ports={}, spaces_port=0, spaces_interval_s=1, state_dir=tmp_path)
    point_settings_at(settings, started)
    try:
        yield started
    finally:
        started.stop()
        ms_client.forget_tenant(config.MICROSOFT_TENANT_ID)
        partner_client.forget_public_keys()
    started.spaces.partner.server.raise_errors()


def test_the_runner_serves_spaces_with_the_last_hour_and_a_live_feed(spaces_sandbox):
    spaces = spaces_sandbox.spaces

    state = controls_client.fetch_spaces_state()

    hierarchy = len(demo.hierarchy_events(datetime.now(demo.ZONE)))
    assert spaces.backfilled >= hierarchy + 1, "the location hierarchy, and at least Delta's hourly full report"
    assert state.base_url == spaces.base_url and state.app_id == config.SPACES_APP_ID
    assert state.spaces_tenant_id == str(config.SPACES_TENANT_ID)
    assert wait_for(lambda: spaces.feed.rounds >= 2, timeout=10), "the live feed keeps going, changes or not"
    oldest = min(logged.timestamp_ms for logged in spaces.firehose.log)
    assert oldest >= (time.time() - spaces.firehose.replay_window_s - 60) * 1000, "no more than Cisco replays"


def rooms_with_occupancy_events(firehose, since_ms: int) -> set[str]:
    """The demo rooms the fake has sent camera counts or Webex telemetry for since ``since_ms``."""
    names = {room.location_id: room.name for room in demo.ROOMS}
    found = set()
    for logged in list(firehose.log):
        event = json.loads(logged.line)
        if logged.timestamp_ms >= since_ms and event["eventType"] in ("CAMERA_COUNT", "WEBEX_TELEMETRY"):
            payload = event.get("cameraCounts") or event.get("webexTelemetryUpdate")
            found.add(names[payload["location"]["locationId"]])
    return found


@pytest.mark.django_db(transaction=True)
def test_a_token_from_the_control_route_activates_and_the_receiver_records_the_demo_rooms(spaces_sandbox):
    tenant = seed_demo_tenant()
    token = controls_client.issue_spaces_token()

    activation = activate(tenant, token.token)

    assert activation.status == ActivationStatus.ACTIVE
    assert (activation.base_url, activation.region) == (spaces_sandbox.spaces.base_url, "sandbox")
    assert activation.spaces_tenant_id == str(config.SPACES_TENANT_ID)
    assert activation.partner_tenant_id == config.SPACES_PARTNER_TENANT_ID
    name = f"activation-{activation.pk}"
    receiver = Receiver(lambda: stream_named(name))
    rooms = Room.objects.filter(tenant=tenant)
    firehose = spaces_sandbox.spaces.firehose

    def rooms_with_states() -> set[str]:
        return set(RoomSourceState.objects.filter(room__in=rooms).values_list("room__name", flat=True))

    with running(receiver):
        assert wait_for(lambda: RoomSourceState.objects.filter(room__name="Delta", source="webex").exists(), 30), \
            "Delta's device sends a full report hourly: the replayed hour always holds one"
        since = int(firehose.connections[0]["replayFrom"])
        assert wait_for(lambda: rooms_with_states() == rooms_with_occupancy_events(firehose, since), timeout=30), \
            "every room the fake sent something for, and only those (cameras are silent while nothing changes)"
    assert not OccupancySignal.objects.exclude(tenant=tenant).exists()
    assert "Vault" not in rooms_with_states(), "it has no sensor"
    replayed = OccupancySignal.objects.filter(observed_at__lt=activation.activated_at).count()
    assert replayed >= 1, "the replay of the last hour reached us too"
    assert firehose.connections[0]["fromTimestamp"], "the first connection asked for history"


@pytest.mark.django_db
def test_a_restarted_sandbox_still_verifies_old_tokens_and_accepts_the_keys_it_issued(settings, tmp_path):
    partner_client.forget_public_keys()
    tenant = seed_demo_tenant()
    first = start_sandbox(ports={}, spaces_port=0, state_dir=tmp_path)
    try:
        point_settings_at(settings, first)
        api_key = activate(tenant, controls_client.issue_spaces_token().token).api_key
        unused = controls_client.issue_spaces_token().token
        port = first.spaces.partner.server.port  # fixed in a real sandbox: the tokens name it
    finally:
        first.stop()
        ms_client.forget_tenant(config.MICROSOFT_TENANT_ID)
    partner_client.forget_public_keys()

    second = start_sandbox(ports={}, spaces_port=port, state_dir=tmp_path)
    try:
        point_settings_at(settings, second)
        stream = requests.get(second.spaces.base_url + "/api/partners/v1/firehose/events",
                              headers={"X-API-Key": api_key}, stream=True, verify=ca_bundle_path(), timeout=5)
        stream.close()
        reactivated = activate(tenant, unused)
    finally:
        second.stop()

    assert stream.status_code == 200, "the key an activation stored still opens the Firehose"
    assert reactivated.status == ActivationStatus.ACTIVE, "a token issued before the restart still verifies"
    for name in (SIGNING_KEY_FILE, API_KEYS_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_an_unknown_key_is_refused_by_the_fake_firehose(spaces_sandbox):
    answer = requests.get(spaces_sandbox.spaces.base_url + "/api/partners/v1/firehose/events",
                          headers={"X-API-Key": "made-up"}, verify=ca_bundle_path(), timeout=5)

    assert answer.status_code == 401


def test_the_controls_are_not_part_of_the_partner_api(spaces_sandbox):
    answer = requests.get(spaces_sandbox.spaces.base_url + "/client/v1/partner/partnerPublicKey/v1",
                          verify=ca_bundle_path(), timeout=5)
    token = requests.post(spaces_sandbox.spaces.base_url + CONTROL_PREFIX + "/activation-token",
                          verify=ca_bundle_path(), timeout=5)

    assert answer.json()["data"][0]["version"] == "v1"
    assert token.status_code == 201 and token.json()["expires_in"] == 600


@pytest.mark.django_db
def test_the_seed_maps_the_demo_rooms_to_spaces_also_on_rooms_seeded_before(settings):
    tenant = seed_demo_tenant()
    Room.objects.filter(tenant=tenant).update(spaces_location_id="", webex_workspace_id="")
    Room.objects.filter(tenant=tenant, name="Fjord").update(spaces_location_id="chosen-by-the-admin")

    seed_demo_tenant()

    mapped = dict(Room.objects.filter(tenant=tenant).values_list("name", "spaces_location_id"))
    assert mapped["Fjord"] == "chosen-by-the-admin", "an admin's mapping is kept"
    assert mapped["Vault"] == "sandbox-loc-vault" and len(mapped) == 9
    assert Room.objects.get(tenant=tenant, name=config.WEBEX_ROOM).webex_workspace_id == config.WEBEX_WORKSPACE_ID


def test_trimming_the_event_log_ends_open_streams_so_receivers_resume(spaces_sandbox):
    firehose = spaces_sandbox.spaces.firehose
    firehose.api_keys.add("trim-test-key")
    newest = max(logged.timestamp_ms for logged in firehose.log)
    stream = requests.get(spaces_sandbox.spaces.base_url + "/api/partners/v1/firehose/events",
                          params={"fromTimestamp": newest}, headers={"X-API-Key": "trim-test-key"}, stream=True,
                          verify=ca_bundle_path(), timeout=5)
    assert wait_for(lambda: len(firehose.connections) == 1, timeout=5)
    chunks = stream.iter_content(chunk_size=None)
    first = next(chunks)  # the replay has begun (trimming before it was sent left an empty body: a race)

    dropped = firehose.forget_before(newest)
    rest = b"".join(chunks)  # returns because the fake ended the stream

    assert dropped > 0 and all(logged.timestamp_ms >= newest for logged in firehose.log)
    assert (first + rest).count(b"\n") >= 1


@pytest.mark.django_db
def test_the_sandbox_page_issues_a_token_that_activates_with_one_click(client, spaces_sandbox):
    tenant = seed_demo_tenant()
    client.force_login(make_user(tenant, Role.ADMIN))

    page = client.post(reverse("sandbox-spaces-token"), follow=True)

    assert 'data-testid="spaces-token"' in page.text and 'data-action="spaces-activate"' in page.text
    token = page.context["spaces_token"]
    assert token and token in page.text
    assert client.get(reverse("sandbox")).context["spaces_token"] is None, "shown once"
    activated = client.post(reverse("partner-spaces"), {"token": token}, follow=True)
    assert "Cisco Spaces is activated for Sandbox Demo Co (sandbox)." in activated.text
    assert "Activation here: Active." in client.get(reverse("sandbox")).text


@pytest.mark.django_db
def test_the_sandbox_page_shows_the_latest_state_of_each_demo_room(client, spaces_sandbox):
    tenant = seed_demo_tenant()
    client.force_login(make_user(tenant, Role.ADMIN))
    fjord = Room.objects.get(tenant=tenant, name="Fjord")
    latest = spaces_sandbox.spaces.feed.clock()
    record([Signal(RoomKey(tenant.pk, "room", str(fjord.pk)), "spaces_occupancy", latest, True, 7)])

    page = client.get(reverse("sandbox"))

    assert page.status_code == 200
    rows = {room.name: room for room in page.context["occupancy"]}
    assert len(rows) == 9 and rows["Fjord"].signals == 1
    assert "Cisco Spaces space occupancy: present, 7 people" in page.text
    assert "No data yet." in page.text  # the other rooms
    assert config.WEBEX_WORKSPACE_ID[:10] in page.text
    assert "The fake Firehose holds" in page.text


@pytest.mark.django_db
def test_the_page_says_so_when_the_fake_spaces_is_not_running(client, spaces_sandbox):
    tenant = seed_demo_tenant()
    client.force_login(make_user(tenant, Role.ADMIN))
    spaces_sandbox.spaces.firehose.stop()

    page = client.get(reverse("sandbox"))
    token = client.post(reverse("sandbox-spaces-token"), follow=True)

    assert "The fake Cisco Spaces did not answer" in page.text
    assert "The fake Cisco Spaces did not answer" in token.text


def test_the_sandbox_stream_goes_down_for_its_nightly_outage_and_comes_back(settings, tmp_path, monkeypatch):
    # The outage moved to a few seconds from now (the real one is at 02:00-03:30 local, longer than the replay).
    begins = datetime.now(demo.ZONE).replace(microsecond=0) + timedelta(seconds=4)
    monkeypatch.setattr(demo, "NIGHTLY_OUTAGE", outage_at(begins, 3))
    partner_client.forget_public_keys()
    started = start_sandbox(ports={}, spaces_port=0, spaces_interval_s=0.5, state_dir=tmp_path)
    firehose = started.spaces.firehose
    firehose.api_keys.add("outage-test-key")
    url = started.spaces.base_url + "/api/partners/v1/firehose/events"

    def get(**options) -> requests.Response:
        return requests.get(url, headers={"X-API-Key": "outage-test-key"}, verify=ca_bundle_path(), timeout=10,
                            **options)

    try:
        point_settings_at(settings, started)
        window = (int(begins.timestamp() * 1000), int(begins.timestamp() * 1000) + 3000)
        assert window in firehose.outages, "the feed scripted it on the fake"
        with get(params={"fromTimestamp": int(time.time() * 1000)}, stream=True) as stream:
            assert stream.status_code == 200
            with pytest.raises(requests.exceptions.RequestException):
                for _ in stream.iter_lines():
                    pass  # keep-alives, until the outage cuts the connection
        cut_at = time.time()
        with get() as refused:
            during = refused.status_code
        down = requests.get(started.spaces.base_url + CONTROL_PREFIX + "/state", verify=ca_bundle_path(),
                            timeout=5).json()
        time.sleep(max(0.0, window[1] / 1000 - time.time()) + 0.1)
        with get(stream=True) as back:
            after = back.status_code
    finally:
        started.stop()
        ms_client.forget_tenant(config.MICROSOFT_TENANT_ID)
        partner_client.forget_public_keys()

    assert window[0] / 1000 - 0.5 <= cut_at, "not cut before it began"
    assert during == 503 and down["stream_down"] is True
    assert after == 200, "back when it ends"
    assert not [logged for logged in firehose.log if window[0] <= logged.timestamp_ms < window[1]], \
        "nothing was published during it"
