"""A kiosk screen in a real Chromium: it polls the status API, turns BUSY when a booking is added, keeps showing
the last status while the server cannot be reached, and signs in with a pasted token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from occupancy.kiosk import tokens
from spaces_calendar.calendars.models import Booking
from tests.factories import make_room, make_tenant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_kiosk_page_turns_busy_when_a_booking_is_added_and_survives_an_outage(page, live_server):
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord", capacity=8)
    make_room(make_tenant("Globex"), "War Room")
    _token, raw = tokens.issue_token(acme, "Fjord panel", rooms=[fjord])
    now = timezone.now()
    Booking.objects.create(room=fjord, external_id="later", start=now + timedelta(hours=2),
                           end=now + timedelta(hours=3), subject="Later")

    page.goto(f"{live_server.url}/kiosk/{raw}/?room={fjord.pk}&poll=1")
    tile = page.locator(f"article.room[data-room-id='{fjord.pk}']")
    tile.wait_for()
    assert tile.get_attribute("data-state") == "free"
    assert tile.locator(".state").text_content() == "FREE"
    assert tile.locator("h1").text_content() == "Fjord"
    assert tile.locator(".until").text_content().startswith("Free until ")
    assert tile.locator(".next").text_content().startswith("Next: ")

    Booking.objects.create(room=fjord, external_id="now", start=now - timedelta(minutes=1),
                           end=now + timedelta(minutes=30), subject="Stand-up")
    page.wait_for_selector(f"article.room[data-room-id='{fjord.pk}'][data-state='busy']")
    assert tile.locator(".state").text_content() == "BUSY"
    assert tile.locator(".until").text_content().startswith("Until ")
    assert tile.locator(".current").text_content().startswith("Now: ")
    assert "War Room" not in page.content()

    # The server goes away: the last status stays, with when the screen went offline.
    page.context.set_offline(True)
    page.wait_for_selector("#offline:not([hidden])")
    assert page.locator("#offline").text_content().startswith("Offline since ")
    assert tile.get_attribute("data-state") == "busy"
    page.context.set_offline(False)
    page.wait_for_selector("#offline", state="hidden")
    assert page.locator("#checked").text_content().startswith("Checked ")


def test_the_kiosk_signs_in_with_a_pasted_token_and_shows_a_floor(page, live_server):
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord")
    glacier = make_room(acme, "Glacier")
    _token, raw = tokens.issue_token(acme, "Lobby", floor=fjord.floor)

    page.goto(f"{live_server.url}/kiosk/?poll=1")
    page.fill("#login-token", "kt_00000000_wrong")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "unknown or has been revoked" in page.locator("#login-error").text_content()

    page.fill("#login-token", raw)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("article.room >> nth=1")
    names = page.locator("article.room h1").all_text_contents()
    assert names == ["Fjord", "Glacier"] and glacier.floor_id == fjord.floor_id
    # The token is remembered by this browser: a reload goes straight to the screen.
    page.reload()
    page.wait_for_selector("article.room >> nth=1")
    assert page.locator("#login").is_hidden()


def test_a_screen_given_its_token_after_the_hash_shows_its_room_and_never_sends_the_token(page, live_server):
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord")
    _token, raw = tokens.issue_token(acme, "Fjord panel", rooms=[fjord])
    secret = raw.split("_", 2)[2]
    sent = []
    page.on("request", lambda request: sent.append((request.url, request.headers)))

    page.goto(f"{live_server.url}/kiosk/?room={fjord.pk}&poll=1#{raw}")
    page.locator(f"article.room[data-room-id='{fjord.pk}'][data-state='free']").wait_for()
    page.wait_for_function("document.querySelector('#checked').textContent !== ''")

    # Out of the address bar at once, kept by this browser, and in no request but as the API's bearer token.
    assert page.url == f"{live_server.url}/kiosk/?room={fjord.pk}&poll=1"
    assert page.evaluate("localStorage.getItem('spaces-kiosk-token')") == raw
    assert len(sent) >= 2
    for url, headers in sent:
        assert secret not in url and secret not in headers.get("referer", "")
        if "/api/" in url:
            assert headers["authorization"] == f"Bearer {raw}"
    page.reload()
    page.locator(f"article.room[data-room-id='{fjord.pk}']").wait_for()


def test_the_old_address_still_reaches_the_kiosk_without_the_token_staying_in_the_address_bar(page, live_server):
    acme = make_tenant("Acme")
    fjord = make_room(acme, "Fjord")
    token, raw = tokens.issue_token(acme, "Fjord panel", rooms=[fjord])

    page.goto(f"{live_server.url}/kiosk/{raw}/?room={fjord.pk}&poll=1")
    page.locator(f"article.room[data-room-id='{fjord.pk}'][data-state='free']").wait_for()
    assert page.url == f"{live_server.url}/kiosk/?room={fjord.pk}&poll=1"
    assert raw not in page.content()

    # Revoked, the screen says so on its sign-in form (as for a pasted token) instead of showing stale rooms.
    tokens.revoke_token(token)
    page.goto(f"{live_server.url}/kiosk/{raw}/?room={fjord.pk}&poll=1")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "unknown or has been revoked" in page.locator("#login-error").text_content()
    assert page.url == f"{live_server.url}/kiosk/?room={fjord.pk}&poll=1"
