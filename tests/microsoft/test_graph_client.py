"""Our Microsoft client through the real msal and requests, against FakeMicrosoft over TLS on real sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from spaces_calendar.core import http
from spaces_calendar.core.http import AuthError, PermanentError, Throttled
from spaces_calendar.providers.errors import ConsentRevoked, SyncStateExpired
from spaces_calendar.providers.microsoft.client import BatchRequest, GraphClient, acquire_token
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, FakeServer
from tests.microsoft.conftest import answer_like_our_webhook

ROOM = "board@contoso.com"
WINDOW = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 8, tzinfo=UTC))


@pytest.fixture
def fake(fake_microsoft, settings) -> FakeMicrosoft:
    settings.OUTBOUND_MAX_RETRY_WAIT = 5.0
    fake_microsoft.add_room(ROOM, "Board Room", capacity="12")
    return fake_microsoft


@pytest.fixture
def graph(fake) -> GraphClient:
    return GraphClient(fake.tenant_id)


@pytest.fixture
def webhook() -> Iterator[FakeServer]:
    """Our notification endpoint stand-in: echoes the validation token, accepts notifications with 202."""
    with FakeServer(name="our-webhook") as server:


        def wrong(request: FakeRequest) -> FakeResponse:
            return FakeResponse.text("not the token")

        server.add_route("POST", "/notify", answer_like_our_webhook)
        server.add_route("POST", "/lifecycle", answer_like_our_webhook)
        server.add_route("POST", "/wrong", wrong)
        yield server


@pytest.fixture
def recorded_waits(monkeypatch) -> list[float]:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 0.3))

    monkeypatch.setattr(http, "_sleep", sleep)
    return waits


# -- tokens ------------------------------------------------------------------------------------------------


def test_it_acquires_a_token_once_and_reuses_it_for_the_next_call(fake):
    first = acquire_token(fake.tenant_id)
    second = acquire_token(fake.tenant_id)

    assert first == second
    assert len(fake.token_requests()) == 1
    assert fake.token_requests()[0].params["tenant"] == fake.tenant_id


def test_revoked_consent_raises_consent_revoked_with_the_reason(fake):
    fake.revoke_consent()

    with pytest.raises(ConsentRevoked) as caught:
        acquire_token(fake.tenant_id)

    assert caught.value.reason == "unauthorized_client"
    assert "AADSTS700016" in caught.value.description


def test_a_wrong_client_secret_raises_consent_revoked_invalid_client(fake, settings):
    settings.MICROSOFT_CLIENT_SECRET = "not-the-secret"

    with pytest.raises(ConsentRevoked) as caught:
        acquire_token(fake.tenant_id)

    assert caught.value.reason == "invalid_client"


def test_an_unknown_tenant_is_a_permanent_error_not_a_revocation(fake):
    with pytest.raises(PermanentError) as caught:
        acquire_token("00000000-0000-0000-0000-000000000000")

    assert caught.value.kind == "invalid_tenant"


# -- rooms and events --------------------------------------------------------------------------------------


def test_it_lists_rooms_across_three_pages_with_capacity_given_as_a_string(fake, graph):
    fake.rooms_page_size = 2
    for number in range(1, 5):
        fake.add_room(f"Room-{number}@Contoso.com", capacity=str(number * 4) if number % 2 else number * 4)
    fake.add_room("nocap@contoso.com")

    rooms = graph.list_rooms()

    assert len(fake.graph.requests_to(r"/v1\.0/places/microsoft\.graph\.room")) == 3
    assert [room.email for room in rooms] == sorted(room.email for room in rooms)
    by_email = {room.email: room for room in rooms}
    assert by_email["room-1@contoso.com"].capacity == 4
    assert by_email["room-2@contoso.com"].capacity == 8
    assert by_email[ROOM].capacity == 12
    assert by_email["nocap@contoso.com"].capacity is None
    assert len(rooms) == 6


def test_calendar_view_converts_a_windows_time_zone_to_the_right_utc_instant(fake, graph):
    fake.add_event(ROOM, "Planning", "2024-07-02T10:00:00", "2024-07-02T11:30:00", time_zone="Pacific Standard Time")
    fake.add_event(ROOM, "Outside", "2024-08-02T10:00:00", "2024-08-02T11:00:00", time_zone="Pacific Standard Time")

    (event,) = graph.calendar_view(ROOM, *WINDOW)

    assert event.start == datetime(2024, 7, 2, 17, 0, tzinfo=UTC)  # PDT is UTC-7 in July
    assert event.end == datetime(2024, 7, 2, 18, 30, tzinfo=UTC)
    assert event.subject == "Planning"
    assert event.ical_uid
    request = fake.graph.requests_to(r"/v1\.0/users/.*/calendarView")[0]
    assert request.arg("startDateTime") == "2024-07-01T00:00:00.0000000Z"


def test_a_private_event_hides_its_subject_and_organizer(fake, graph):
    fake.add_event(ROOM, "Secret merger", "2024-07-02T09:00:00", "2024-07-02T10:00:00", sensitivity="private")

    (event,) = graph.calendar_view(ROOM, *WINDOW)

    assert event.is_private
    assert event.subject is None
    assert event.organizer_email is None


def test_calendar_view_follows_next_links_and_keeps_cancelled_flags(fake, graph):
    fake.events_page_size = 2
    for day in range(1, 6):
        fake.add_event(ROOM, f"Day {day}", f"2024-07-0{day}T09:00:00", f"2024-07-0{day}T10:00:00", isCancelled=day == 3)

    events = graph.calendar_view(ROOM, *WINDOW)

    assert [event.subject for event in events] == [f"Day {day}" for day in range(1, 6)]
    assert [event.is_cancelled for event in events] == [False, False, True, False, False]
    assert len(fake.graph.requests_to(r"/v1\.0/users/.*/calendarView")) == 3


def test_a_throttled_request_is_retried_after_its_fractional_retry_after(fake, graph, recorded_waits):
    fake.throttle(r"/users/.*/calendarView", retry_after="0.2")

    assert graph.calendar_view(ROOM, *WINDOW) == []
    assert recorded_waits == [0.2]


# -- delta -------------------------------------------------------------------------------------------------


def test_delta_returns_everything_first_then_only_changes_with_removed_ids(fake, graph):
    fake.events_page_size = 2
    kept = fake.add_event(ROOM, "Kept", "2024-07-02T09:00:00", "2024-07-02T10:00:00")
    moved = fake.add_event(ROOM, "Moved", "2024-07-03T09:00:00", "2024-07-03T10:00:00")
    gone = fake.add_event(ROOM, "Gone", "2024-07-04T09:00:00", "2024-07-04T10:00:00")

    initial = graph.calendar_view_delta(ROOM, *WINDOW)
    fake.update_event(ROOM, moved["id"], start="2024-07-05T09:00:00", end="2024-07-05T10:00:00")
    fake.delete_event(ROOM, gone["id"])
    added = fake.add_event(ROOM, "New", "2024-07-06T09:00:00", "2024-07-06T10:00:00", time_zone="Tokyo Standard Time")
    later = graph.calendar_view_delta(ROOM, *WINDOW, delta_link=initial.delta_link)

    assert {event.id for event in initial.events} == {kept["id"], moved["id"], gone["id"]}
    assert initial.removed_ids == []
    assert "$deltatoken=" in initial.delta_link
    assert len(fake.graph.requests_to(r"/v1\.0/users/.*/calendarView/delta")) == 2 + 2
    assert {event.id: event.start for event in later.events} == {
        moved["id"]: datetime(2024, 7, 5, 9, tzinfo=UTC),
        added["id"]: datetime(2024, 7, 6, 0, tzinfo=UTC),
    }
    assert later.removed_ids == [gone["id"]]
    assert later.delta_link and later.delta_link != initial.delta_link


def test_an_expired_delta_link_raises_sync_state_expired(fake, graph):
    first = graph.calendar_view_delta(ROOM, *WINDOW)
    fake.expire_delta_tokens()

    with pytest.raises(SyncStateExpired):
        graph.calendar_view_delta(ROOM, *WINDOW, delta_link=first.delta_link)


# -- batching ----------------------------------------------------------------------------------------------


def _room_views(count: int) -> list[BatchRequest]:
    query = "startDateTime=2024-07-01T00:00:00Z&endDateTime=2024-07-08T00:00:00Z"
    return [BatchRequest(id=str(n), url=f"/users/{ROOM}/calendarView?{query}") for n in range(count)]


def test_a_batch_of_25_requests_takes_two_batch_calls_and_keeps_the_order(fake, graph):
    fake.add_event(ROOM, "Standup", "2024-07-02T09:00:00", "2024-07-02T09:15:00")

    answers = graph.batch(_room_views(25))

    assert len(fake.graph.requests_to(r"/v1\.0/\$batch", "POST")) == 2
    assert [answer.id for answer in answers] == [str(n) for n in range(25)]
    assert {answer.status for answer in answers} == {200}
    assert answers[0].body["value"][0]["subject"] == "Standup"


def test_a_throttled_batch_item_is_retried_after_its_retry_after_then_succeeds(fake, graph, recorded_waits):
    fake.throttle_in_batch(r"/users/.*/calendarView", retry_after="0.2", times=2)
    started = time.monotonic()

    answers = graph.batch(_room_views(3))

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert recorded_waits == [0.2]
    assert time.monotonic() - started >= 0.2
    (first, retry) = fake.graph.requests_to(r"/v1\.0/\$batch", "POST")
    assert len(first.json()["requests"]) == 3
    assert len(retry.json()["requests"]) == 2


def test_a_batch_item_throttled_for_longer_than_the_max_wait_raises_throttled(fake, graph, recorded_waits, settings):
    settings.OUTBOUND_MAX_RETRY_WAIT = 1.0
    fake.throttle_in_batch(r"/users/.*/calendarView", retry_after="2.128")

    with pytest.raises(Throttled) as caught:
        graph.batch(_room_views(2))

    assert caught.value.retry_after == pytest.approx(2.128)
    assert recorded_waits == []


# -- Graph auth failures -----------------------------------------------------------------------------------


def test_a_graph_401_on_a_cached_token_gets_one_fresh_token(fake, graph):
    acquire_token(fake.tenant_id)
    fake.expire_tokens()  # msal still holds the (now refused) token in its cache

    assert graph.list_rooms() is not None
    assert len(fake.token_requests()) == 2


def test_a_graph_401_that_persists_with_a_fresh_token_surfaces_as_auth_error(fake, graph):
    acquire_token(fake.tenant_id)
    fake.expire_tokens()
    fake.throttle(r"/places/.*", status=401, times=5)

    with pytest.raises(AuthError) as caught:
        graph.list_rooms()

    assert caught.value.status == 401
    assert len(fake.token_requests()) == 2, "one retry with a new token, then the error"


def test_a_revocation_seen_by_graph_with_a_cached_token_is_a_403_auth_error(fake, graph):
    acquire_token(fake.tenant_id)
    fake.revoke_consent()

    with pytest.raises(AuthError) as caught:
        graph.calendar_view(ROOM, *WINDOW)

    assert caught.value.status == 403


# -- subscriptions -----------------------------------------------------------------------------------------


def _expiry(days: float = 2) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


def test_creating_a_subscription_performs_the_validation_handshake_first(fake, graph, webhook):
    expires = _expiry()

    info = graph.create_subscription(ROOM, webhook.url("/notify"), webhook.url("/lifecycle"), "s3cret", expires)

    assert info.expires_at == expires
    assert info.resource == f"/users/{ROOM}/events"
    assert info.change_type == "created,updated,deleted"
    (validation, lifecycle_validation) = webhook.requests_to("/notify") + webhook.requests_to("/lifecycle")
    assert validation.arg("validationToken").startswith("Validation: Testing client application reachability")
    assert validation.headers["Content-Type"].startswith("text/plain")
    assert lifecycle_validation.arg("validationToken")
    assert fake.subscriptions[info.id].client_state == "s3cret"


def test_a_wrong_validation_answer_refuses_the_subscription(fake, graph, webhook):
    with pytest.raises(PermanentError) as caught:
        graph.create_subscription(ROOM, webhook.url("/wrong"), None, "s3cret", _expiry())

    assert caught.value.status == 400
    assert "ValidationError" in caught.value.body_excerpt
    assert fake.subscriptions == {}


def test_renewing_moves_the_expiry_and_deleting_twice_is_fine(fake, graph, webhook):
    info = graph.create_subscription(ROOM, webhook.url("/notify"), None, "s3cret", _expiry(1))
    later = _expiry(6)

    renewed = graph.renew_subscription(info.id, later)

    assert renewed.expires_at == later
    assert fake.subscriptions[info.id].expires_at == later
    assert graph.delete_subscription(info.id) is True
    assert graph.delete_subscription(info.id) is False
    assert fake.subscriptions == {}
