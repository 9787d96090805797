"""The receiver's writer thread: batches applied in order, one transaction each, and nothing after one that failed
(the checkpoint must never pass events that were not applied)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from firehose import ledger
from firehose.models import Checkpoint
from firehose.receiver import Receiver
from occupancy.models import OccupancySignal
from tests.worker import wait_for

from .conftest import credentials_for

pytestmark = pytest.mark.django_db(transaction=True)


def occupancy(fake, location: str, count: int, at: int) -> dict:
    return fake.event("spaceOccupancy", {"location": {"locationId": location}, "occupancy": {"peopleCount": count}},
                      timestamp_ms=at)


def test_batches_are_applied_in_order_and_none_after_one_that_failed(firehose, office, settings, monkeypatch):
    tenant, _ = office
    settings.FIREHOSE_BATCH_SIZE = 2
    settings.FIREHOSE_FLUSH_INTERVAL_S = 5  # batches close by size only
    applied: list[list[str]] = []
    real = ledger.apply_prepared

    def failing_second(key, batch):  # noqa: ANN001, ANN202
        if len(applied) == 1:
            applied.append(list(batch.uids))
            raise RuntimeError("the database went away")
        outcome = real(key, batch)
        applied.append(list(batch.uids))
        return outcome

    monkeypatch.setattr(ledger, "apply_prepared", failing_second)
    start = int(time.time() * 1000) - 10_000
    events = [occupancy(firehose, "loc-fjord", n, start + n) for n in range(8)]
    for event in events:
        firehose.publish(event, partition=1)
    receiver = Receiver(lambda: credentials_for(firehose, tenant.pk))
    failure: list[BaseException] = []

    def target() -> None:
        try:
            receiver.run()
        except BaseException as error:  # noqa: BLE001 - what the supervisor would log
            failure.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: failure, timeout=20), "the failure ended the receiver, as it did without a writer"
    finally:
        receiver.stop.set()
        thread.join(timeout=20)
    assert isinstance(failure[0], RuntimeError)
    assert [uids for uids in applied] == [[e["recordUid"] for e in events[:2]], [e["recordUid"] for e in events[2:4]]]
    assert sorted(OccupancySignal.objects.values_list("source_event_id", flat=True)) == sorted(
        e["recordUid"] for e in events[:2])
    assert Checkpoint.objects.get(stream="test").high_water_ms == start + 1, "the checkpoint stops before the failure"
