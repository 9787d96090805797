"""End to end: two days of the sandbox's simulated occupancy, sent by the fake Firehose in the real shapes, read by
the receiver, fused and called, show the ghosts, late starts and early end the scenario plays (spaces_demo)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db.models import Sum

from firehose.models import Checkpoint
from firehose.receiver import Receiver
from occupancy.models import BookingOutcome
from occupancy.pipeline import rebuild_spans, recompute_outcomes
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.providers.microsoft.demo import add_demo_meetings, add_demo_rooms
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox import spaces_demo as demo
from spaces_calendar.sandbox.harness import ca_bundle_path
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.firehose.conftest import API_KEY, credentials_for, running
from tests.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiving(settings):
    settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
    settings.FIREHOSE_FLUSH_INTERVAL_S = 0.05
    settings.FIREHOSE_BACKOFF_BASE_S = 0.01
    settings.FIREHOSE_BACKOFF_MAX_S = 0.05
    # Two past days at once: Cisco would replay an hour; here the receiver reads them as if it had been listening.
    settings.FIREHOSE_INITIAL_LOOKBACK_S = 3 * 86400
    with FakeFirehose(api_keys=(API_KEY,), spaces_tenant_id=str(config.SPACES_TENANT_ID),
                      partner_tenant_id=config.SPACES_PARTNER_TENANT_ID) as firehose:
        firehose.replay_window_s = 3 * 86400
        firehose.keepalive_interval = 0.2
        yield firehose
        firehose.server.raise_errors()


def booked(tenant, first: date) -> list[demo.Booking]:
    """The demo meetings of ``first`` and the day after, in the fake Microsoft 365 and as our bookings."""
    fake = FakeMicrosoft(tenant_id=config.MICROSOFT_TENANT_ID)
    add_demo_rooms(fake)
    add_demo_meetings(fake, first)
    bookings = demo.bookings_from_fake(fake)
    rooms = {room.name: room for room in Room.objects.filter(tenant=tenant)}
    Booking.objects.bulk_create([
        Booking(room=rooms[b.room], external_id=b.key, series_id=b.series, subject=b.subject, start=b.start,
                end=b.end, all_day=b.all_day, attendee_count=b.attendees)
        for b in bookings
    ])
    return bookings


def outcomes(tenant) -> dict[tuple[str, str, date], str]:
    rows = BookingOutcome.objects.filter(tenant=tenant).select_related("booking", "room")
    return {(row.room.name, row.booking.subject, row.start.astimezone(demo.ZONE).date()): row.outcome for row in rows}


def test_two_demo_days_through_the_receiver_show_the_ghosts_late_starts_and_early_end(receiving):
    """Needs the parser of DESIGN.md section 6 (firehose/events.py) and on-change fusion (occupancy/fusion.py)."""
    firehose = receiving
    tenant = seed_demo_tenant()
    first = (datetime.now(demo.ZONE) - timedelta(days=2)).date()  # two whole days, both over by now
    second = first + timedelta(days=1)
    bookings = booked(tenant, first)
    start = demo.day_start(demo.local_time(first, "12:00"))
    end = start + timedelta(days=2)
    events = [*demo.hierarchy_events(start), *demo.simulate(bookings, start, end)]
    for event in events:
        firehose.publish(firehose.event(event.kind, event.payload, timestamp_ms=event.timestamp_ms,
                                        event_type=event.event_type, uid=event.uid))

    with running(Receiver(lambda: credentials_for(firehose, tenant.pk))):
        assert wait_for(lambda: (Checkpoint.objects.filter(stream="test").aggregate(n=Sum("applied"))["n"] or 0)
                        >= len(events), timeout=60), "every event applied"
    room_ids = list(Room.objects.filter(tenant=tenant).values_list("pk", flat=True))
    rebuild_spans(room_ids, start, end)
    recompute_outcomes(room_ids, start, end)
    called = outcomes(tenant)

    # The first day: cameras have said nothing before their room's first visit, so only rooms that had one by then
    # can be called; Glacier had its interview, Fjord its planning, Delta's device reports hourly.
    assert called[("Glacier", "Sprint planning", first)] == "ghost"
    assert called[("Fjord", "Customer call: Nordlys AS", first)] == "early_end"
    assert called[("Delta", "Town hall", first)] == "attended"
    assert called[("Ember", "Team standup", first)] == "unknown", "Ember's camera had said nothing yet: not a ghost"
    # The second day: every camera's last count holds from the day before, through the night.
    assert called[("Ember", "Team standup", second)] == "ghost"
    assert called[("Glacier", "Sprint planning", second)] == "ghost"
    assert called[("Ember", "Retrospective", second)] == "late_start"
    assert called[("Cedar", "Phone interview", second)] == "late_start"
    assert called[("Fjord", "Quarterly planning", second)] == "attended"
    assert called[("Delta", "Training: security basics", second)] == "attended"
    # No sensor, no call; an all-day booking is exempt.
    assert [called[("Vault", "Audit committee", day)] for day in (first, second)] == ["unknown", "unknown"]
    assert ("Aurora", "Board offsite preparation", first) not in called
