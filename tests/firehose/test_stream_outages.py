"""The receiver records what its stream lost: a disconnection longer than the Firehose replays is an outage (its
rooms unknown there), a short one that replay recovered is not. Against the fake Firehose over TLS."""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.utils import timezone

from firehose.receiver import Receiver
from occupancy.models import SourceOutage
from occupancy.outages import outages_for
from tests.worker import wait_for

from .conftest import credentials_for, running

pytestmark = pytest.mark.django_db(transaction=True)


def camera(fake, location: str, count: int) -> dict:
    return fake.event("cameraCounts", {"location": {"locationId": location, "name": "Fjord",
                                                    "inferredLocationTypes": ["ZONE"]},
                                       "count": count, "countDelta": count},
                      timestamp_ms=int(time.time() * 1000))


def receiver_for(fake, tenant) -> Receiver:
    creds = dataclasses.replace(credentials_for(fake, tenant.pk), tenant_ids=(tenant.pk,))
    return Receiver(lambda: creds)


def test_a_disconnection_longer_than_the_replay_is_recorded_as_lost(firehose, office, settings):
    tenant, _ = office
    settings.FIREHOSE_REPLAY_S = 0.3
    settings.FIREHOSE_BACKOFF_BASE_S = 0.2
    settings.FIREHOSE_BACKOFF_MAX_S = 0.2
    receiver = receiver_for(firehose, tenant)
    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        firehose.publish(camera(firehose, "loc-fjord", 0))
        assert wait_for(lambda: receiver.batches >= 1, timeout=10)
        time.sleep(0.2)  # the receiver notes when it last heard the stream
        lost_from = timezone.now()
        firehose.refuse(503, times=6)  # about a second of refused reconnects, longer than the replay
        firehose.disconnect_all()
        assert wait_for(lambda: SourceOutage.objects.filter(end__isnull=False).exists(), timeout=20)
        outage = SourceOutage.objects.get(end__isnull=False)
        assert outages_for([tenant.pk], outage.start, timezone.now())[tenant.pk] == [(outage.start, outage.end)]

    assert outage.tenant_id == tenant.pk and outage.stream.startswith("firehose:test")
    assert abs((outage.start - lost_from).total_seconds()) < 6, "from when the stream was last heard"
    assert outage.end > outage.start
    # Our own stop is a stretch the stream may lose too: open until the next connection.
    assert SourceOutage.objects.filter(end__isnull=True, reason="stopped").count() == 1


def test_a_short_disconnection_that_replay_recovers_loses_nothing(firehose, office, settings):
    tenant, _ = office
    settings.FIREHOSE_REPLAY_S = 3600
    receiver = receiver_for(firehose, tenant)
    with running(receiver):
        assert wait_for(lambda: len(firehose.connections) >= 1, timeout=10)
        firehose.publish(camera(firehose, "loc-fjord", 0))
        assert wait_for(lambda: receiver.batches >= 1, timeout=10)
        firehose.disconnect_all()
        assert wait_for(lambda: len(firehose.connections) >= 2, timeout=10)
        assert wait_for(lambda: SourceOutage.objects.filter(end__isnull=False).exists(), timeout=10)
        assert outages_for([tenant.pk], timezone.now().replace(year=2000), timezone.now()) == {}
