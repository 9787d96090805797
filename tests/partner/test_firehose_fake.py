"""The fake Firehose behaves as Cisco's (DESIGN.md section 6): keep-alives when idle, in the real envelope; replay
back an hour at most; scripted outages that refuse and cut streams and, when longer than the replay window, lose
what is older than it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from spaces_calendar.partner import firehose_payloads as fp
from spaces_calendar.partner.firehose_fake import EVENTS_PATH, REPLAY_WINDOW_S, FakeFirehose, partition_of
from spaces_calendar.sandbox.harness import ca_bundle_path

API_KEY = "fake-spaces-api-key"
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


class Clock:
    """A wall clock the test moves (seconds, as time.time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def firehose() -> Iterator[FakeFirehose]:
    with FakeFirehose(api_keys=(API_KEY,)) as fake:
        fake.keepalive_interval = 0.2
        yield fake
        fake.server.raise_errors()


@pytest.fixture
def clocked(clock) -> Iterator[FakeFirehose]:
    with FakeFirehose(api_keys=(API_KEY,), clock=clock) as fake:
        fake.keepalive_interval = 0.2
        yield fake
        fake.server.raise_errors()


def connect(fake: FakeFirehose, from_ms: int | None = None) -> requests.Response:
    params = {} if from_ms is None else {"fromTimestamp": str(from_ms)}
    return requests.get(fake.base_url + EVENTS_PATH, params=params, headers={"X-API-Key": API_KEY}, stream=True,
                        verify=ca_bundle_path(), timeout=(5, 5))


def lines(response: requests.Response) -> Iterator[dict]:
    for line in response.iter_lines():
        if line:
            yield json.loads(line)


def events_until_keep_alive(response: requests.Response) -> list[dict]:
    """The events a stream sends before it first falls idle (its first keep-alive)."""
    found = []
    for line in lines(response):
        if line["eventType"] == "KEEP_ALIVE":
            return found
        found.append(line)
    raise AssertionError("the stream ended without a keep-alive")


def camera(fake: FakeFirehose, at_ms: int, uid: str, count: int = 1) -> dict:
    event = fake.event("cameraCounts", fp.camera_counts(fp.location("loc-fjord", "Fjord", ["ZONE"]), count, count),
                       timestamp_ms=at_ms, uid=uid)
    fake.publish(event)
    return event


def test_an_idle_stream_gets_keep_alives_in_the_real_envelope(firehose):
    before = int(time.time() * 1000)
    with connect(firehose) as response:
        first = next(lines(response))

    assert response.status_code == 200
    assert first["eventType"] == "KEEP_ALIVE"
    assert set(first) == {"recordUid", "recordTimestamp", "spacesTenantId", "spacesTenantName", "partnerTenantId",
                          "eventType"}, "no payload"
    assert first["spacesTenantId"] == first["spacesTenantName"] == first["partnerTenantId"] == ""
    assert before <= first["recordTimestamp"] <= int(time.time() * 1000)


def test_keep_alives_come_only_when_nothing_else_does(firehose):
    firehose.keepalive_interval = 1.0
    stop = threading.Event()

    def publish() -> None:
        n = 0
        while not stop.wait(0.1):
            camera(firehose, int(time.time() * 1000), f"steady-{n}")
            n += 1

    with connect(firehose) as response:
        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        seen = []
        for line in lines(response):
            seen.append(line["eventType"])
            if len(seen) == 10:
                stop.set()
            if line["eventType"] == "KEEP_ALIVE":
                break
    thread.join(5)

    assert seen[:10] == ["CAMERA_COUNT"] * 10, "no keep-alive while events flow"
    assert seen[-1] == "KEEP_ALIVE", "one once they stop"


def test_replay_reaches_back_an_hour_at_most(clocked, clock):
    old = camera(clocked, clock.ms - 2 * HOUR_MS, "two-hours-ago")
    recent = camera(clocked, clock.ms - 50 * MINUTE_MS, "fifty-minutes-ago")
    newest = camera(clocked, clock.ms - MINUTE_MS, "a-minute-ago")

    with connect(clocked, clock.ms - 3 * HOUR_MS) as response:
        from_three_hours = events_until_keep_alive(response)
    with connect(clocked, clock.ms - 10 * MINUTE_MS) as response:
        from_ten_minutes = events_until_keep_alive(response)

    assert clocked.replay_window_s == REPLAY_WINDOW_S == 3600
    assert [e["recordUid"] for e in from_three_hours] == [recent["recordUid"], newest["recordUid"]]
    assert old["recordUid"] not in {e["recordUid"] for e in from_three_hours}, "older than the window: gone"
    assert [e["recordUid"] for e in from_ten_minutes] == [newest["recordUid"]]


@pytest.mark.parametrize("from_ms", [None, 0])
def test_without_a_from_timestamp_only_live_events_come(firehose, from_ms):
    camera(firehose, int(time.time() * 1000) - 1000, "before-the-connection")

    with connect(firehose, from_ms) as response:
        stream = lines(response)
        assert next(stream)["eventType"] == "KEEP_ALIVE", "the earlier event is not replayed"
        live = camera(firehose, int(time.time() * 1000), "after-the-connection")
        following = next(line for line in stream if line["eventType"] != "KEEP_ALIVE")

    assert following["recordUid"] == live["recordUid"]


def test_an_outage_cuts_open_streams_refuses_new_ones_and_replays_afterwards(firehose):
    firehose.keepalive_interval = 5.0
    start = int(time.time() * 1000)
    first = camera(firehose, start, "before-the-outage")
    with connect(firehose, start - 1000) as response:
        stream = lines(response)
        assert next(stream)["recordUid"] == first["recordUid"]
        firehose.outage(1.5)
        with pytest.raises(requests.exceptions.RequestException):
            for _ in stream:
                pass  # nothing more comes: the connection is cut, not ended cleanly
    during = camera(firehose, int(time.time() * 1000), "during-the-outage")
    refused = requests.get(firehose.base_url + EVENTS_PATH, headers={"X-API-Key": API_KEY},
                           verify=ca_bundle_path(), timeout=5)
    assert refused.status_code == 503 and firehose.refused_in_outage
    assert firehose.is_down()

    time.sleep(max(0.0, firehose.outages[-1][1] / 1000 - time.time()) + 0.05)
    firehose.keepalive_interval = 0.2
    with connect(firehose, start) as response:
        after = events_until_keep_alive(response)

    assert response.status_code == 200 and not firehose.is_down()
    assert [e["recordUid"] for e in after] == [first["recordUid"], during["recordUid"]], \
        "what was published during the outage comes with the replay"


def test_a_scheduled_outage_cuts_a_stream_when_it_begins(firehose):
    firehose.keepalive_interval = 10.0  # so only the outage can end the wait
    now = int(time.time() * 1000)
    firehose.outage_between(now + 400, now + 900)

    with connect(firehose) as response:
        began = time.monotonic()
        with pytest.raises(requests.exceptions.RequestException):
            for _ in lines(response):
                pass
    cut_after = time.monotonic() - began

    assert cut_after < 5, "woken by the outage, not by the next keep-alive"


def test_an_outage_longer_than_the_replay_window_loses_what_is_older_than_the_window(clocked, clock):
    down_from = clock.ms
    applied = camera(clocked, down_from - MINUTE_MS, "the-last-one-the-receiver-applied")
    clocked.outage_between(down_from, down_from + 90 * MINUTE_MS)
    lost = camera(clocked, down_from + 10 * MINUTE_MS, "ten-minutes-in")
    kept = camera(clocked, down_from + 70 * MINUTE_MS, "seventy-minutes-in")

    clock.now += 45 * 60
    with connect(clocked, down_from - 2 * MINUTE_MS) as refused:
        assert refused.status_code == 503
    clock.now += 45 * 60 + 1
    with connect(clocked, down_from - 2 * MINUTE_MS) as response:  # the checkpoint minus the overlap
        replayed = [e["recordUid"] for e in events_until_keep_alive(response)]

    assert replayed == [kept["recordUid"]]
    assert lost["recordUid"] not in replayed and applied["recordUid"] not in replayed


def test_outages_are_kept_once_each():
    fake = FakeFirehose()  # never started: only its schedule
    now = fake.now_ms()

    fake.outage_between(now + 1000, now + 2000)
    fake.outage_between(now + 1000, now + 2000)

    assert fake.outages == [(now + 1000, now + 2000)]
    assert not fake.is_down(now) and fake.is_down(now + 1500) and not fake.is_down(now + 2000)
    with pytest.raises(ValueError):
        fake.outage_between(now, now)


def test_an_event_keeps_its_location_or_workspace_in_one_partition():
    fake = FakeFirehose()
    where = fp.location_path(fp.Level("loc-hq", "HQ", ("BUILDING",)), fp.Level("loc-fjord", "Fjord", ("ZONE",)))
    device = fp.device_info("dev-1", workspace_id="ws-fjord")

    located = fake.publish(fake.event("cameraCounts", fp.camera_counts(where, 1, 1)))
    webex = fake.publish(fake.event("webexTelemetryUpdate", {"deviceInfo": device, "telemetries": []}))

    assert located.partition == partition_of("loc-fjord"), "the innermost location, not the building"
    assert webex.partition == partition_of("ws-fjord")


def test_an_event_is_an_envelope_of_the_real_shape():
    fake = FakeFirehose(spaces_tenant_id="73105", partner_tenant_id="partner-1", spaces_tenant_name="Contoso")

    event = fake.event("cameraCounts", fp.camera_counts(fp.location("loc-fjord", "Fjord", ["ZONE"]), 2, 2))

    assert event["eventType"] == "CAMERA_COUNT" and event["cameraCounts"]["count"] == 2
    assert (event["spacesTenantId"], event["spacesTenantName"], event["partnerTenantId"]) == (
        "73105", "Contoso", "partner-1")
    assert abs(event["recordTimestamp"] - time.time() * 1000) < 5000
