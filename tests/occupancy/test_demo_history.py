"""The sandbox's demo weeks: written once, and the reports' patterns are really in the outcomes."""

from __future__ import annotations

from datetime import date

import pytest

from occupancy.demo import seed_history
from occupancy.models import BookingOutcome
from occupancy.outcomes import zombie_series
from spaces_calendar.calendars.models import Booking
from spaces_calendar.sandbox.seed import seed_demo_tenant

pytestmark = pytest.mark.django_db


def test_demo_history_has_ghosts_a_zombie_series_late_starts_and_a_sensor_outage():
    tenant = seed_demo_tenant()
    written = seed_history(tenant, days=21, today=date(2026, 11, 23))

    assert written > 80 and seed_history(tenant, days=21, today=date(2026, 11, 23)) == 0, "written once"
    outcomes = dict(BookingOutcome.objects.values_list("booking__external_id", "outcome"))
    counts = {kind: list(outcomes.values()).count(kind) for kind in set(outcomes.values())}
    assert counts["ghost"] >= 8 and counts["late_start"] >= 10 and counts["early_end"] >= 5
    assert counts["attended"] > counts["ghost"]
    assert counts.get("unknown", 0) >= 1, "the day Ember's sensor was down is unknown, not a ghost"
    history = list(BookingOutcome.objects.order_by("start").values_list("series_id", "outcome"))
    assert "demo-series-weekly-sync" in zombie_series(history)
    assert Booking.objects.filter(room__tenant=tenant).count() == written
