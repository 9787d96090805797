"""The kiosk screen in Chromium says which day a time is on, in the room's time zone: a next meeting tomorrow says
"tomorrow", a later one its weekday and date, an all-day booking lasts "until the end of the day"; one person is
"1 person"; and a screen whose own zone is not the room's says which zone its times are in."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, record
from occupancy.kiosk import tokens
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Rooms in one of these zones, whichever is in its daytime now: "today" and "tomorrow" cannot change under the test.
ZONES = ["Europe/Oslo", "America/New_York", "Asia/Tokyo", "Pacific/Honolulu", "Asia/Kolkata"]


def daytime_zone() -> ZoneInfo:
    now = timezone.now()
    return next(ZoneInfo(name) for name in ZONES if 4 <= now.astimezone(ZoneInfo(name)).hour < 20)


def local(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone)


@pytest.fixture
def kiosk_room():
    zone = daytime_zone()
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord", capacity=8, time_zone=zone.key)
    _token, raw = tokens.issue_token(acme, "Fjord panel", rooms=[fjord])
    return fjord, raw, zone


def open_tile(browser, live_server, room, raw: str, *, timezone_id: str):
    context = browser.new_context(locale="en-GB", timezone_id=timezone_id)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/kiosk/?room={room.pk}&poll=1#{raw}")
    tile = page.locator(f"article.room[data-room-id='{room.pk}']")
    tile.wait_for()
    return context, tile


def test_a_next_meeting_tomorrow_says_tomorrow_and_one_person_is_one_person(browser, live_server, kiosk_room):
    room, raw, zone = kiosk_room
    tomorrow = timezone.now().astimezone(zone).date() + timedelta(days=1)
    Booking.objects.create(room=room, external_id="tomorrow", start=local(tomorrow, 13, zone),
                           end=local(tomorrow, 14, zone), subject="Board")

    context, tile = open_tile(browser, live_server, room, raw, timezone_id=zone.key)
    try:
        assert tile.get_attribute("data-state") == "free"
        assert tile.locator(".next").text_content() == "Next: tomorrow 13:00–14:00"
        assert tile.locator(".until").text_content() == "Free until 13:00 tomorrow"
        assert tile.locator(".zone").count() == 0, "the screen is in the room's zone: nothing to say"

        # Someone walks in: the room is busy (occupied without a booking), with one person in it.
        result = record([Signal(RoomKey(room.tenant_id, "room", str(room.pk)), "spaces_camera", timezone.now(),
                                present=True, people_count=1)])
        assert result.accepted == 1
        tile.page.wait_for_selector(f"article.room[data-room-id='{room.pk}'][data-state='busy']")
        assert " · 1 person · " in tile.locator(".occupancy").text_content()
    finally:
        context.close()


def test_a_later_meeting_names_its_day_and_an_all_day_booking_lasts_until_the_end_of_the_day(browser, live_server,
                                                                                            kiosk_room):
    room, raw, zone = kiosk_room
    today = timezone.now().astimezone(zone).date()
    later = today + timedelta(days=3)
    Booking.objects.create(room=room, external_id="all-day", start=local(today, 0, zone),
                           end=local(today + timedelta(days=1), 0, zone), all_day=True, subject="Offsite")
    Booking.objects.create(room=room, external_id="later", start=local(later, 9, zone), end=local(later, 10, zone))
    # A screen whose own clock is in another zone than the room's.
    elsewhere = "Australia/Adelaide" if zone.key != "Australia/Adelaide" else "Europe/Lisbon"

    context, tile = open_tile(browser, live_server, room, raw, timezone_id=elsewhere)
    try:
        assert tile.get_attribute("data-state") == "busy"
        assert tile.locator(".until").text_content() == "Until the end of the day"
        assert tile.locator(".current").text_content() == "Now: today, all day"
        assert tile.locator(".next").text_content() == f"Next: {later:%a} {later.day} {later:%b} 09:00–10:00"
        assert tile.locator(".zone").text_content() == f"Times in {zone.key}"
    finally:
        context.close()
