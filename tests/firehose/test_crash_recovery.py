"""Exactly once across crashes: ``run_firehose`` is SIGKILLed at random points during a 100,000-event stream
and restarted; in the end every event the fake sent was applied once, none twice, none lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db.models import Count

from firehose.models import Checkpoint
from occupancy.models import OccupancySignal
from spaces_calendar.partner import firehose_payloads as fp
from tests import worker
from tests.factories import make_room, make_tenant
from tests.worker import ROOT, wait_for

from .conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)
EVENTS = 100_000
ROOMS = 24


def start_receiver(firehose, tenant, log: Path, **settings: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEST_DATABASE_URL": worker.test_database_url(),
        "SPACES_API_KEY": API_KEY,
        "SPACES_FIREHOSE_URL": firehose.base_url,
        "SPACES_TENANT_SLUG": tenant.slug,
        "OUTBOUND_CA_BUNDLE": os.environ.get("OUTBOUND_CA_BUNDLE", ""),
        "FIREHOSE_BACKOFF_BASE_S": "0.1",
        "FIREHOSE_BACKOFF_MAX_S": "0.5",
        # A short overlap keeps each restart's replay small; the stream's disorder (±0.5 s) stays well inside it.
        "FIREHOSE_RESUME_OVERLAP_S": "5",
        "FIREHOSE_DEDUP_RETENTION_S": "60",
        "FIREHOSE_INITIAL_LOOKBACK_S": "600",
        **settings,
    }
    from spaces_calendar.sandbox.harness import ca_bundle_path

    env["OUTBOUND_CA_BUNDLE"] = ca_bundle_path()
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run_firehose", "--rescan-interval", "1"], cwd=ROOT, env=env,
        stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def applied() -> int:
    return OccupancySignal.objects.count()


def camera(firehose, location: str, count: int, delta: int, at: int, uid: str | None = None) -> dict:
    """A camera count in the real shape (one signal each): small, so 100,000 of them stay quick to stream."""
    payload = fp.camera_counts(fp.location(location, location, ["ZONE"]), count, delta)
    return firehose.event("cameraCounts", payload, timestamp_ms=at, uid=uid)


def test_sigkill_at_random_points_neither_loses_nor_repeats_an_event(firehose, tmp_path):
    rng = random.Random(20261122)
    tenant = make_tenant("Contoso")
    locations = [make_room(tenant, f"Room {n}", spaces_location_id=f"loc-{n}").spaces_location_id
                 for n in range(ROOMS)]
    firehose.keepalive_interval = 1.0
    firehose.duplicate_every = 97  # the stream itself repeats now and then
    start = int(time.time() * 1000) - EVENTS * 2 - 10_000
    sent = set()
    for n in range(EVENTS):
        # Slightly out of order, well within the resume overlap, as a real stream is.
        stamp = start + n * 2 + rng.randint(-500, 500)
        event = camera(firehose, locations[n % ROOMS], n % 7, n % 7 - (n - ROOMS) % 7, stamp, uid=f"event-{n:06d}")
        firehose.publish(event, partition=n % 12 + 1)
        sent.add(event["recordUid"])
    log = tmp_path / "firehose.log"
    started: list[subprocess.Popen] = []
    try:
        kills = 0
        while kills < 4:
            process = start_receiver(firehose, tenant, log)
            started.append(process)
            before = applied()
            assert wait_for(lambda before=before: applied() > before, timeout=60), log.read_text()[-3000:]
            time.sleep(rng.uniform(0.05, 1.5))  # a random point: inside a batch, between batches, mid-commit
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            kills += 1
            if applied() >= EVENTS:
                break

        connected = log.read_text().count("firehose: connected")
        process = start_receiver(firehose, tenant, log)
        started.append(process)
        assert wait_for(lambda: applied() >= EVENTS, timeout=180, interval=1), log.read_text()[-3000:]
        # The killed ones may have applied everything already: stop this one once it runs (has its handlers).
        assert wait_for(lambda: log.read_text().count("firehose: connected") > connected, timeout=60), (
            log.read_text()[-3000:])
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-3000:]
    finally:
        for leftover in started:
            if leftover.poll() is None:
                os.killpg(leftover.pid, signal.SIGKILL)
                leftover.wait(10)

    uids = OccupancySignal.objects.values("source_event_id").annotate(n=Count("pk"))
    assert {row["source_event_id"] for row in uids} == sent, "the applied set is exactly the sent set"
    assert max(row["n"] for row in uids) == 1, "no event was applied twice"
    assert applied() == EVENTS
    checkpoint = Checkpoint.objects.get(stream="env")
    assert checkpoint.duplicates > 0, "replays after each crash (and the stream's own repeats) were dropped"
    assert kills >= 1


def test_sigterm_applies_the_partial_batch_and_its_checkpoint_before_exiting(firehose, tmp_path):
    tenant = make_tenant("Contoso")
    make_room(tenant, "Fjord", spaces_location_id="loc-fjord")
    log = tmp_path / "firehose.log"
    process = start_receiver(firehose, tenant, log, FIREHOSE_FLUSH_INTERVAL_S="600", FIREHOSE_BATCH_SIZE="50000")
    try:
        assert wait_for(lambda: firehose.connections, timeout=60), log.read_text()[-3000:]
        now = int(time.time() * 1000)
        sent = [camera(firehose, "loc-fjord", n, 1, now + n) for n in range(50)]
        for event in sent:
            firehose.publish(event)
        time.sleep(1.5)  # delivered, but neither the batch size nor the flush interval has closed the batch
        assert applied() == 0, "nothing is applied before the batch closes"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert sorted(OccupancySignal.objects.values_list("source_event_id", flat=True)) == sorted(
        event["recordUid"] for event in sent)
    assert Checkpoint.objects.get(stream="env").high_water_ms == now + 49
