"""Timestamps read as numbers by the database must be exact: a booking's grace window ends on a microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from occupancy.models import OccupancySpan
from occupancy.timestamps import Epoch, EpochMicros, from_micros, micros, micros_of
from tests.factories import make_room, make_tenant

pytestmark = pytest.mark.django_db

MOMENTS = [
    datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),  # rounds up to the next second at millisecond precision
    datetime(2026, 11, 22, 12, 0, tzinfo=UTC),  # no fraction: SQLite's text has none
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, 500_000, tzinfo=UTC),  # past 32-bit seconds
]


def test_epoch_micros_in_the_database_equal_pythons_for_every_kind_of_fraction():
    room = make_room(make_tenant("Acme"), "Fjord")
    for moment in MOMENTS:
        span = OccupancySpan.objects.create(tenant_id=room.tenant_id, room=room, start=moment, end=moment,
                                            state="empty")
        value, seconds = (OccupancySpan.objects.filter(pk=span.pk).annotate(m=EpochMicros("start"), s=Epoch("start"))
                          .values_list("m", "s").get())
        assert value == micros(moment)
        assert from_micros(value) == moment
        assert seconds == pytest.approx(moment.timestamp(), abs=1e-3)


def test_micros_round_trip_and_durations():
    assert micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert micros_of(timedelta(minutes=10)) == 600_000_000
    assert all(from_micros(micros(moment)) == moment for moment in MOMENTS)
