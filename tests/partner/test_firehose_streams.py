"""From a Spaces activation to its stream: one receiver per activation, events only for that tenant, and a key
Spaces refuses marks the activation broken."""

from __future__ import annotations

import threading
import time

import pytest

from firehose.credentials import all_streams
from firehose.supervisor import supervise
from occupancy.models import OccupancySignal
from spaces_calendar.partner import firehose_payloads as fp
from spaces_calendar.partner.activation import activate
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.partner.models import ActivationStatus, SpacesActivation
from tests.factories import make_room, make_tenant
from tests.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stream(fake_spaces, settings):
    """The Firehose on the same host as the partner API, as Cisco serves both from the activation's base URL."""
    settings.FIREHOSE_FLUSH_INTERVAL_S = 0.05
    settings.FIREHOSE_BACKOFF_BASE_S = 0.01
    settings.FIREHOSE_BACKOFF_MAX_S = 0.05
    firehose = FakeFirehose(fake_spaces.server, api_keys=(), spaces_tenant_id=str(fake_spaces.tenant_id))
    firehose.keepalive_interval = 0.2
    yield firehose
    firehose.disconnect_all()


def activated(fake_spaces, firehose, name: str) -> SpacesActivation:
    tenant = make_tenant(name)
    make_room(tenant, "Fjord", spaces_location_id="loc-fjord")
    activation = activate(tenant, fake_spaces.issue_activation_token())
    firehose.api_keys.add(activation.api_key)
    return activation


def test_each_activation_streams_into_its_own_tenant_only(fake_spaces, stream):
    activation = activated(fake_spaces, stream, "Contoso")
    (credentials,) = all_streams()
    assert credentials.stream == f"activation-{activation.pk}" and credentials.base_url == fake_spaces.base_url
    stop = threading.Event()
    thread = threading.Thread(target=supervise, args=(stop,), kwargs={"min_partition": 1, "max_partition": 12,
                                                                      "rescan_s": 0.2}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(stream.connections) >= 1, timeout=10)
        now = int(time.time() * 1000)
        fjord = fp.location("loc-fjord", "Fjord", ["ZONE"])
        ours = stream.event("cameraCounts", fp.camera_counts(fjord, 2, 2), timestamp_ms=now)
        # Same location id, but another Spaces tenant's event: must not land in Contoso's Fjord.
        theirs = stream.event("cameraCounts", fp.camera_counts(fjord, 9, 9), timestamp_ms=now,
                              spaces_tenant_id="someone-else")
        stream.publish(ours)
        stream.publish(theirs)
        assert wait_for(lambda: OccupancySignal.objects.exists(), timeout=10)
        time.sleep(0.3)
        assert list(OccupancySignal.objects.values_list("source_event_id", "tenant_id")) == [
            (ours["recordUid"], activation.tenant_id)]

        # Deactivated in Spaces: the stream is refused, the activation is marked, the receiver stops asking.
        stream.deactivated_keys.add(activation.api_key)
        stream.disconnect_all()
        assert wait_for(lambda: SpacesActivation.objects.get(pk=activation.pk).status == ActivationStatus.BROKEN,
                        timeout=10)
        assert "403" in SpacesActivation.objects.get(pk=activation.pk).status_reason
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
