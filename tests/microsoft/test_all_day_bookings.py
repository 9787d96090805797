"""All-day events are local dates of the room: synced through the fake Graph, stored from the room's local midnight
to the next one, and shown and counted so by the kiosk and the reports, on DST days too.

Graph sends an all-day event at midnight of its dates whatever ``timeZone`` says: "UTC" by default, the zone of a
``Prefer: outlook.timezone`` header, or the organiser's (a Windows name). The date is the part that holds
(microsoftgraph/microsoft-graph-docs-contrib#471, #6459).
"""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from occupancy import aggregates, reports
from occupancy.kiosk import tokens
from occupancy.models import RoomDay
from occupancy.report_filters import ReportFilters
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

from .sync_helpers import connect, linked_room
from .test_sync import run_sync

pytestmark = pytest.mark.django_db

#: The room's IANA zone and the Windows name Graph may label its all-day events with.
ZONES = [("Europe/Oslo", "W. Europe Standard Time"), ("America/New_York", "Eastern Standard Time")]


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def day_minutes(day: date, zone: ZoneInfo) -> float:
    # Aware datetimes of one tzinfo subtract as wall times: compare them in UTC.
    start, end = midnight(day, zone).astimezone(UTC), midnight(day + timedelta(days=1), zone).astimezone(UTC)
    return (end - start).total_seconds() / 60


def next_dst_day(zone: ZoneInfo, today: date) -> date:
    """The first local date from ``today`` on that has 23 or 25 hours."""
    day = today
    while day_minutes(day, zone) == 24 * 60:
        day += timedelta(days=1)
    return day


@pytest.fixture
def setup(fake_microsoft):
    tenant = make_tenant("Contoso")
    return fake_microsoft, connect(tenant, fake_microsoft)


def add_all_day(fake, room_email: str, subject: str, first: date, days: int, label: str) -> None:
    fake.add_event(room_email, subject, f"{first}T00:00:00", f"{first + timedelta(days=days)}T00:00:00",
                   time_zone=label, isAllDay=True)


@pytest.mark.parametrize("zone_name, windows_name", ZONES)
@pytest.mark.parametrize("labelled", ["UTC", "windows"])
def test_an_all_day_event_is_booked_from_the_rooms_local_midnight_to_the_next_one(setup, settings, zone_name,
                                                                                 windows_name, labelled):
    fake, connection = setup
    zone = ZoneInfo(zone_name)
    link = linked_room(connection, fake, "Fjord", time_zone=zone_name)
    today = timezone.now().astimezone(zone).date()
    dst = next_dst_day(zone, today + timedelta(days=1))
    # The sync window (today and the days ahead) has to reach the DST day.
    settings.CALENDAR_SYNC_DAYS_AHEAD = (dst - today).days + 2
    label = "UTC" if labelled == "UTC" else windows_name
    add_all_day(fake, link.external_calendar_id, "Offsite", today, 1, label)
    add_all_day(fake, link.external_calendar_id, "Clocks change", dst, 1, label)
    add_all_day(fake, link.external_calendar_id, "Conference", dst + timedelta(days=1), 2, label)

    assert run_sync().synced == 1

    stored = {b.subject: b for b in Booking.objects.filter(room=link.room)}
    for subject, first, days in (("Offsite", today, 1), ("Clocks change", dst, 1),
                                 ("Conference", dst + timedelta(days=1), 2)):
        booking = stored[subject]
        assert booking.all_day
        assert (booking.start, booking.end) == (midnight(first, zone), midnight(first + timedelta(days=days), zone))
    clocks = stored["Clocks change"]
    assert clocks.end - clocks.start in (timedelta(hours=23), timedelta(hours=25))


@pytest.mark.parametrize("zone_name, windows_name", ZONES)
def test_an_all_day_booking_counts_the_local_days_length_and_nothing_of_the_next_day(setup, settings, zone_name,
                                                                                    windows_name):
    fake, connection = setup
    zone = ZoneInfo(zone_name)
    link = linked_room(connection, fake, "Fjord", time_zone=zone_name)
    today = timezone.now().astimezone(zone).date()
    dst = next_dst_day(zone, today + timedelta(days=1))
    settings.CALENDAR_SYNC_DAYS_AHEAD = (dst - today).days + 1
    add_all_day(fake, link.external_calendar_id, "Offsite", today, 1, "UTC")
    add_all_day(fake, link.external_calendar_id, "Clocks change", dst, 1, windows_name)
    run_sync()

    aggregates.rebuild_days([link.room_id], today, dst + timedelta(days=1))

    booked = dict(RoomDay.objects.filter(room=link.room).values_list("date", "booked_minutes"))
    assert booked[today] == day_minutes(today, zone)
    assert booked[dst] == day_minutes(dst, zone) in (23 * 60, 25 * 60)
    assert booked[dst + timedelta(days=1)] == 0, "no hour spills into the next day"
    if dst - today > timedelta(days=1):
        assert booked[today + timedelta(days=1)] == 0
    utilization = reports.utilization(ReportFilters(connection.tenant, dst, dst))
    assert [round(row.booked_hours, 3) for row in utilization] == [day_minutes(dst, zone) / 60]


@pytest.mark.parametrize("zone_name, windows_name", ZONES)
def test_the_kiosk_says_an_all_day_booking_lasts_until_the_rooms_next_midnight(setup, zone_name, windows_name):
    fake, connection = setup
    zone = ZoneInfo(zone_name)
    link = linked_room(connection, fake, "Fjord", time_zone=zone_name)
    today = timezone.now().astimezone(zone).date()
    add_all_day(fake, link.external_calendar_id, "Offsite", today, 1, "UTC")
    run_sync()
    _token, raw = tokens.issue_token(connection.tenant, "Fjord panel", rooms=[link.room])

    body = Client().get(f"/api/v1/rooms/{link.room_id}/status", HTTP_AUTHORIZATION=f"Bearer {raw}").json()

    assert body["state"] == "busy"  # booked, and no sensor to say otherwise
    assert body["current_booking"]["all_day"] is True
    assert datetime.fromisoformat(body["current_booking"]["start"]) == midnight(today, zone)
    assert datetime.fromisoformat(body["busy_until"]) == midnight(today + timedelta(days=1), zone)


@pytest.mark.parametrize("zone_name", ["Europe/Oslo", "America/New_York"])
def test_the_migration_moves_all_day_bookings_stored_at_utc_midnights_to_the_rooms_midnights(zone_name):
    zone = ZoneInfo(zone_name)
    room = make_room(make_tenant("Acme"), "Fjord", time_zone=zone_name)
    today = timezone.now().astimezone(zone).date()
    dst = next_dst_day(zone, today)
    utc = UTC
    # How the previous code stored them: Graph's midnight taken as UTC.
    old = [Booking.objects.create(room=room, external_id=f"old-{day}", all_day=True,
                                  start=midnight(day, utc), end=midnight(day + timedelta(days=1), utc))
           for day in (today, dst)]
    right = Booking.objects.create(room=room, external_id="right", all_day=True, start=midnight(today, zone),
                                   end=midnight(today + timedelta(days=2), zone))
    timed = Booking.objects.create(room=room, external_id="timed", start=midnight(today, utc),
                                   end=midnight(today, utc) + timedelta(hours=1))

    migration = importlib.import_module("spaces_calendar.calendars.migrations.0003_all_day_bookings_local_midnights")
    migration.reanchor_all_day_bookings(apps, None)

    for booking, day in zip(old, (today, dst), strict=True):
        booking.refresh_from_db()
        assert (booking.start, booking.end) == (midnight(day, zone), midnight(day + timedelta(days=1), zone))
    right.refresh_from_db()
    assert (right.start, right.end) == (midnight(today, zone), midnight(today + timedelta(days=2), zone))
    timed.refresh_from_db()
    assert timed.start == midnight(today, utc), "timed bookings are left alone"
