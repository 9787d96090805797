"""A kiosk never shows a guess while our stream is down: the Firehose's sources are unknown until it is back."""

from __future__ import annotations

import pytest
from django.utils import timezone

from occupancy.kiosk.models import KioskRoomStatus
from occupancy.outages import close_outage, open_outage

from .conftest import minutes, sense


@pytest.fixture
def kiosk(world, kiosk_for):
    return kiosk_for(building=world.hq)


def test_an_open_outage_makes_the_stream_sources_unknown_and_its_end_restores_them(world, kiosk):
    now = timezone.now()
    sense(world.fjord, present=False, people=0, at=now - minutes(20), source="spaces_camera")
    assert kiosk.status(world.fjord).json()["occupancy"]["state"] == "empty"

    open_outage(world.fjord.tenant_id, "firehose:test", now - minutes(1))
    KioskRoomStatus.objects.all().delete()  # a stored document lives up to KIOSK_DOCUMENT_MAX_AGE_S
    assert kiosk.status(world.fjord).json()["occupancy"]["state"] == "unknown"

    close_outage(world.fjord.tenant_id, "firehose:test", now)
    KioskRoomStatus.objects.all().delete()
    assert kiosk.status(world.fjord).json()["occupancy"]["state"] == "empty"
