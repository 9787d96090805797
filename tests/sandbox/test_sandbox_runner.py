"""The sandbox's fake Microsoft 365: seeded like the demo tenant, reachable by msal and our Graph client, with
controls that change a calendar and deliver the change notification as Graph would."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from spaces_calendar.core.models import Room
from spaces_calendar.providers.microsoft import client as ms_client
from spaces_calendar.providers.microsoft.client import GraphClient, acquire_token
from spaces_calendar.providers.microsoft.controls import CONTROL_PREFIX
from spaces_calendar.providers.microsoft.onboarding import admin_consent_url
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.harness import ca_bundle_path
from spaces_calendar.sandbox.runner import start_sandbox
from spaces_calendar.sandbox.seed import seed_demo_tenant
from tests.sandbox.conftest import point_settings_at

OSLO = ZoneInfo(config.TIME_ZONE)


def today_in_oslo() -> tuple[datetime, datetime]:
    start = datetime.now(OSLO).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def control(sandbox, action: str, **payload) -> requests.Response:
    url = sandbox.fake("microsoft").graph.url(f"{CONTROL_PREFIX}/meetings/{action}")
    return requests.post(url, json=payload, verify=ca_bundle_path(), timeout=10)


def subscribe(room: str, webhook) -> None:
    expires = datetime.now(UTC) + timedelta(days=2)
    url = webhook.url("/webhooks/microsoft/notifications")
    GraphClient(config.MICROSOFT_TENANT_ID).create_subscription(room, url, None, "sandbox-client-state", expires)


def notifications(webhook) -> list[dict]:
    received = [r for r in webhook.requests_to("/webhooks/microsoft/notifications") if r.arg("validationToken") is None]
    return [item for request in received for item in request.json()["value"]]


def test_msal_and_our_graph_client_list_the_seeded_rooms(sandbox):
    assert acquire_token(config.MICROSOFT_TENANT_ID)

    rooms = GraphClient(config.MICROSOFT_TENANT_ID).list_rooms()

    assert len(rooms) == 8
    fjord = next(room for room in rooms if room.display_name == "Fjord")
    assert (fjord.email, fjord.capacity, fjord.building, fjord.floor_number) == (
        "fjord@sandbox-demo.example.com", 12, "Demo HQ", 0)


def test_one_more_room_has_a_mailbox_but_is_hidden_from_places(sandbox):
    graph = GraphClient(config.MICROSOFT_TENANT_ID)

    listed = {room.email for room in graph.list_rooms()}
    meetings = graph.calendar_view("vault@sandbox-demo.example.com", *today_in_oslo())

    assert "vault@sandbox-demo.example.com" not in listed
    assert [event.is_private for event in meetings] == [True]


@pytest.mark.django_db
def test_the_fake_rooms_are_the_demo_rooms_the_seed_creates(sandbox):
    seed_demo_tenant()

    ours = set(Room.objects.filter(tenant__slug="sandbox-demo").values_list("email", flat=True))

    listed = {room.email for room in GraphClient(config.MICROSOFT_TENANT_ID).list_rooms()}
    assert listed == ours - {"vault@sandbox-demo.example.com"}, "Places lists every demo room but the unlisted one"
    assert "vault@sandbox-demo.example.com" in ours, "which an admin adds by email"


def test_todays_meetings_are_a_realistic_office_day(sandbox):
    graph = GraphClient(config.MICROSOFT_TENANT_ID)
    start, end = today_in_oslo()

    fjord = graph.calendar_view("fjord@sandbox-demo.example.com", start, end)
    glacier = graph.calendar_view("glacier@sandbox-demo.example.com", start, end)
    aurora = graph.calendar_view("aurora@sandbox-demo.example.com", start, end)
    ember = graph.calendar_view("ember@sandbox-demo.example.com", start, end)

    planning, review = fjord[0], fjord[1]
    assert planning.start.astimezone(OSLO).strftime("%H:%M") == "09:00"
    assert planning.end == review.start  # back to back
    assert (review.end - review.start) == timedelta(minutes=60)
    private = next(event for event in glacier if event.is_private)
    assert private.subject is None and private.organizer_email is None
    assert any(event.is_all_day for event in aurora)
    standup = next(event for event in ember if event.series_master_id)
    assert standup.type == "occurrence"
    assert standup.series_master_id not in {event.id for event in ember}  # calendarView never shows the master


def test_tomorrows_meetings_are_there_too(sandbox):
    start, end = today_in_oslo()
    tomorrow = GraphClient(config.MICROSOFT_TENANT_ID).calendar_view(
        "delta@sandbox-demo.example.com", start + timedelta(days=1), end + timedelta(days=1))

    assert [event.subject for event in tomorrow] == ["Training: security basics"]


def test_consent_for_organizations_is_granted_and_comes_back_to_our_callback(sandbox):
    redirect_uri = "http://127.0.0.1:8123/integrations/microsoft/callback"

    answer = requests.get(admin_consent_url(redirect_uri, "the-state"), allow_redirects=False,
                          verify=ca_bundle_path(), timeout=5)

    back = urlsplit(answer.headers["Location"])
    assert answer.status_code == 302
    assert f"{back.scheme}://{back.netloc}{back.path}" == redirect_uri
    assert parse_qs(back.query) == {"admin_consent": ["True"], "tenant": [config.MICROSOFT_TENANT_ID],
                                    "scope": ["https://graph.microsoft.com/.default"], "state": ["the-state"]}


def test_adding_a_meeting_now_books_the_room_and_notifies_the_subscription(sandbox, webhook):
    room = "cedar@sandbox-demo.example.com"
    subscribe(room, webhook)

    answer = control(sandbox, "add", room=room, subject="Quick sync", minutes=45)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["notifications"][0]["status"] == 202
    [item] = notifications(webhook)
    assert (item["changeType"], item["clientState"]) == ("created", "sandbox-client-state")
    assert item["resourceData"]["id"] == body["meeting"]["id"]
    now = datetime.now(UTC)
    graph = GraphClient(config.MICROSOFT_TENANT_ID)
    seen = graph.calendar_view(room, now - timedelta(minutes=5), now + timedelta(hours=1))
    added = next(event for event in seen if event.id == body["meeting"]["id"])
    assert added.subject == "Quick sync"
    assert added.end - added.start == timedelta(minutes=45)
    assert added.start <= now < added.end


def test_moving_a_meeting_shifts_it_and_notifies_an_update(sandbox, webhook):
    room = "fjord@sandbox-demo.example.com"
    subscribe(room, webhook)
    graph = GraphClient(config.MICROSOFT_TENANT_ID)
    before = graph.calendar_view(room, *today_in_oslo())[0]

    answer = control(sandbox, "move", room=room, event_id=before.id, minutes=30)

    assert answer.status_code == 200, answer.text
    after = next(event for event in graph.calendar_view(room, *today_in_oslo()) if event.id == before.id)
    assert (after.start - before.start, after.end - before.end) == (timedelta(minutes=30), timedelta(minutes=30))
    assert [(item["changeType"], item["resourceData"]["id"]) for item in notifications(webhook)] == [
        ("updated", before.id)]


def test_cancelling_a_meeting_removes_it_and_notifies_a_deletion(sandbox, webhook):
    room = "harbour@sandbox-demo.example.com"
    subscribe(room, webhook)
    graph = GraphClient(config.MICROSOFT_TENANT_ID)
    doomed = graph.calendar_view(room, *today_in_oslo())[0]

    answer = control(sandbox, "cancel", room=room, event_id=doomed.id)

    assert answer.status_code == 200, answer.text
    assert doomed.id not in {event.id for event in graph.calendar_view(room, *today_in_oslo())}
    assert [(item["changeType"], item["resourceData"]["id"]) for item in notifications(webhook)] == [
        ("deleted", doomed.id)]


def test_a_change_on_a_room_nobody_subscribed_to_notifies_no_one(sandbox, webhook):
    answer = control(sandbox, "add", room="birch@sandbox-demo.example.com")

    assert answer.status_code == 201
    assert answer.json()["notifications"] == []


def test_an_unreachable_webhook_is_reported_not_fatal(sandbox, webhook):
    room = "ember@sandbox-demo.example.com"
    subscribe(room, webhook)
    webhook.stop()

    answer = control(sandbox, "add", room=room)

    assert answer.status_code == 201
    assert answer.json()["notifications"][0]["status"] is None
    assert answer.json()["notifications"][0]["error"] == "ConnectionError"


@pytest.mark.parametrize(
    ("action", "payload", "status"),
    [
        ("add", {"room": "nowhere@sandbox-demo.example.com"}, 404),
        ("add", {"room": "fjord@sandbox-demo.example.com", "minutes": "lots"}, 400),
        ("move", {"room": "fjord@sandbox-demo.example.com", "event_id": "AAMkAD-missing"}, 404),
        ("cancel", {"room": "fjord@sandbox-demo.example.com", "event_id": "AAMkAD-missing"}, 404),
    ],
)
def test_a_control_request_that_cannot_be_done_says_why(sandbox, action, payload, status):
    answer = control(sandbox, action, **payload)

    assert answer.status_code == status
    assert answer.json()["error"]


def test_an_all_day_meeting_is_not_moved_by_minutes(sandbox):
    room = "aurora@sandbox-demo.example.com"
    all_day = next(e for e in GraphClient(config.MICROSOFT_TENANT_ID).calendar_view(room, *today_in_oslo())
                   if e.is_all_day)

    answer = control(sandbox, "move", room=room, event_id=all_day.id, minutes=30)

    assert answer.status_code == 400


def test_the_controls_are_not_part_of_graph(sandbox):
    token = acquire_token(config.MICROSOFT_TENANT_ID)

    answer = requests.get(sandbox.fake("microsoft").graph_url + CONTROL_PREFIX + "/state", verify=ca_bundle_path(),
                          headers={"Authorization": f"Bearer {token}"}, timeout=5)

    assert answer.status_code == 404


def test_a_restarted_sandbox_keeps_its_subscriptions_and_meeting_ids(webhook, settings, tmp_path):
    room = "delta@sandbox-demo.example.com"
    first = start_sandbox(ports={}, state_dir=tmp_path)
    point_settings_at(settings, first)
    try:
        subscribe(room, webhook)
        ids = set(first.fake("microsoft").events[room])
    finally:
        first.stop()
        ms_client.forget_tenant(config.MICROSOFT_TENANT_ID)

    second = start_sandbox(ports={}, state_dir=tmp_path)
    try:
        assert set(second.fake("microsoft").events[room]) == ids
        answer = control(second, "add", room=room)
    finally:
        second.stop()

    assert answer.json()["notifications"][0]["status"] == 202
    assert [item["changeType"] for item in notifications(webhook)] == ["created"]


def test_an_unreadable_subscriptions_file_is_ignored(tmp_path):
    (tmp_path / "microsoft-subscriptions.json").write_text("{not json")

    restarted = start_sandbox(ports={}, state_dir=tmp_path)
    restarted.stop()

    assert restarted.fake("microsoft").subscriptions == {}
