"""The sync engine against the fake Graph: msal tokens, $batch, delta rounds, throttling and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from spaces_calendar.calendars import sync
from spaces_calendar.calendars.linking import unlink_calendar
from spaces_calendar.calendars.models import Booking, CalendarConnection, CalendarLink, ConnectionStatus, Subscription
from spaces_calendar.core import http
from spaces_calendar.providers.microsoft.calendar import MicrosoftCalendars
from tests.factories import make_tenant

from .sync_helpers import connect, linked_room, soon

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(fake_microsoft):
    tenant = make_tenant("Contoso")
    connection = connect(tenant, fake_microsoft)
    return fake_microsoft, connection


def run_sync() -> sync.SyncReport:
    """What the dispatcher and workers do, in-process: claim every due link and sync each chunk."""
    total = sync.SyncReport()
    for token, ids in sync.claim_due():
        report = sync.sync_claimed(token, ids)
        total.synced += report.synced
        total.failed += report.failed
        total.skipped += report.skipped
        total.counts += report.counts
    return total


def graph_posts(fake, path: str) -> int:
    return sum(1 for request in fake.graph.requests if request.method == "POST" and request.path.endswith(path))


def test_a_full_sync_stores_each_booking_in_utc_and_hides_private_details(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    fake.add_event(link.external_calendar_id, "Quarterly review", soon(1), soon(2),
                   attendees=[{"emailAddress": {"address": "a@x"}}, {"emailAddress": {"address": "b@x"}}])
    local = (timezone.now() + timedelta(hours=3)).astimezone(timezone.get_fixed_timezone(0))
    # A Windows zone name, as Graph sends for rooms configured that way.
    fake.add_event(link.external_calendar_id, "Standup", local.strftime("%Y-%m-%dT%H:00:00"),
                   local.strftime("%Y-%m-%dT%H:30:00"), time_zone="Greenwich Standard Time")
    fake.add_event(link.external_calendar_id, "Therapy", soon(4), soon(5), sensitivity="private")

    report = run_sync()

    assert report.synced == 1 and report.counts.created == 3
    bookings = {b.subject or "(private)": b for b in Booking.objects.filter(room=link.room)}
    assert set(bookings) == {"Quarterly review", "Standup", "(private)"}
    review = bookings["Quarterly review"]
    assert review.start == datetime.combine(soon(1).date(), soon(1).time(), tzinfo=UTC)
    assert review.attendee_count == 2 and len(review.organizer_hash) == 64
    assert bookings["(private)"].private and bookings["(private)"].organizer_hash == ""
    assert bookings["Standup"].start.minute == 0 and bookings["Standup"].end - bookings["Standup"].start == timedelta(
        minutes=30)
    link.refresh_from_db()
    assert link.sync_state.startswith(fake.graph_url) and "$deltatoken=" in link.sync_state
    assert link.next_sync_at > timezone.now() + timedelta(minutes=1), "the next sync is the daily one"
    assert link.claim_token == "" and link.last_full_sync_at is not None
    shown = CalendarConnection.objects.get(pk=connection.pk)
    assert shown.last_synced_at is not None
    assert timedelta(minutes=55) < shown.token_expires_at - timezone.now() <= timedelta(hours=1), "shown to admins"


def test_syncing_again_with_no_change_writes_nothing(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    fake.add_event(link.external_calendar_id, "Planning", soon(1), soon(2))
    run_sync()
    before = list(Booking.objects.values_list("pk", "updated_at"))

    sync.request_sync([link.pk], delay_s=0, full=True)
    again = run_sync()

    assert again.synced == 1 and not again.counts.changed
    assert list(Booking.objects.values_list("pk", "updated_at")) == before


def test_forty_five_rooms_go_through_batches_of_at_most_twenty(setup):
    fake, connection = setup
    links = [linked_room(connection, fake, f"Room {i}") for i in range(45)]
    for link in links:
        fake.add_event(link.external_calendar_id, "Busy", soon(1), soon(2))

    report = run_sync()

    assert report.synced == 45 and Booking.objects.count() == 45
    assert graph_posts(fake, "/$batch") == 3, "45 rooms, one page each: ceil(45 / 20) batches"
    assert not any("calendarView" in request.path for request in fake.graph.requests), "no per-room requests"


def test_many_pages_per_room_are_followed_inside_batches(setup):
    fake, connection = setup
    fake.max_page_size = 2
    links = [linked_room(connection, fake, f"Room {i}") for i in range(3)]
    for link in links:
        for hour in range(1, 6):
            fake.add_event(link.external_calendar_id, f"Slot {hour}", soon(hour), soon(hour, 30))

    report = run_sync()

    assert report.synced == 3 and Booking.objects.count() == 15
    # ``Prefer: odata.maxpagesize=100`` asks for big pages, but the server decides: 5 events in pages of 2.
    assert graph_posts(fake, "/$batch") == 3


def test_an_incremental_sync_applies_new_moved_and_cancelled_meetings(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    room = link.external_calendar_id
    keep = fake.add_event(room, "Keep", soon(1), soon(2))
    move = fake.add_event(room, "Move me", soon(3), soon(4))
    gone = fake.add_event(room, "Cancel me", soon(5), soon(6))
    run_sync()

    fake.update_event(room, move["id"], start=soon(7), end=soon(8))
    fake.delete_event(room, gone["id"])
    new = fake.add_event(room, "New", soon(9), soon(10))
    sync.request_sync([link.pk], delay_s=0)
    report = run_sync()

    assert report.counts.created == 1 and report.counts.updated == 1 and report.counts.cancelled == 1
    by_id = {b.external_id: b for b in Booking.objects.all()}
    assert by_id[move["id"]].start == datetime.combine(soon(7).date(), soon(7).time(), tzinfo=UTC)
    assert by_id[gone["id"]].cancelled and not by_id[keep["id"]].cancelled
    assert by_id[new["id"]].subject == "New"
    inner = [path for _, path in fake.batch_log]
    assert any("$deltatoken=" in path for path in inner), "the second round continued from the delta link"


def test_an_expired_delta_link_resyncs_that_room_in_full_only(setup):
    fake, connection = setup
    first, second = linked_room(connection, fake, "Fjord"), linked_room(connection, fake, "Glacier")
    stale = fake.add_event(first.external_calendar_id, "Stale", soon(1), soon(2))
    fake.add_event(second.external_calendar_id, "Fine", soon(1), soon(2))
    run_sync()
    CalendarLink.objects.filter(pk=first.pk).update(sync_state=first.refresh_from_db() or CalendarLink.objects.get(
        pk=first.pk).sync_state.replace("$deltatoken=", "$deltatoken=forgotten"))
    # While the state is lost, the event went away: only a full round can tell.
    with fake._lock:
        del fake.events[first.external_calendar_id][stale["id"]]
    sync.request_sync([first.pk, second.pk], delay_s=0)

    report = run_sync()

    assert report.synced == 2 and report.failed == 0
    assert Booking.objects.get(external_id=stale["id"]).cancelled, "the full round noticed the silent removal"
    first.refresh_from_db()
    second.refresh_from_db()
    assert "forgotten" not in first.sync_state
    fresh_rounds = [path for _, path in fake.batch_log if "startDateTime" in path]
    assert sum(quote(first.external_calendar_id) in path for path in fresh_rounds) == 2  # first sync + resync
    assert sum(quote(second.external_calendar_id) in path for path in fresh_rounds) == 1  # never restarted


def test_throttled_items_inside_a_batch_are_retried_after_retry_after(setup, monkeypatch):
    fake, connection = setup
    waits: list[float] = []
    monkeypatch.setattr(http, "_sleep", waits.append)
    links = [linked_room(connection, fake, f"Room {i}") for i in range(4)]
    for link in links:
        fake.add_event(link.external_calendar_id, "Busy", soon(1), soon(2))
    fake.throttle_in_batch(r"/users/.*/calendarView/delta", retry_after="2.128", times=3)

    report = run_sync()

    assert report.synced == 4 and Booking.objects.count() == 4
    assert waits == [2.128]


def test_a_throttling_storm_postpones_the_sync_and_loses_nothing(setup, monkeypatch, settings):
    fake, connection = setup
    monkeypatch.setattr(http, "_sleep", lambda seconds: None)
    settings.OUTBOUND_MAX_RETRY_WAIT = 30
    link = linked_room(connection, fake, "Fjord")
    fake.add_event(link.external_calendar_id, "Busy", soon(1), soon(2))
    fake.throttle(r"/\$batch", retry_after="120", times=50)

    report = run_sync()

    link.refresh_from_db()
    assert report.failed == 1 and Booking.objects.count() == 0
    assert link.claim_token == "" and link.next_sync_at > timezone.now() + timedelta(seconds=100)
    assert run_sync().synced == 0, "not due again before Retry-After"

    fake.graph.clear_faults()
    CalendarLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    assert run_sync().synced == 1 and Booking.objects.count() == 1


def test_a_claimed_link_is_not_claimed_again_until_its_lease_runs_out(setup, settings):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    fake.add_event(link.external_calendar_id, "Busy", soon(1), soon(2))
    now = timezone.now()

    first = sync.claim_due(now)
    assert [ids for _, ids in first] == [[link.pk]]
    assert sync.claim_due(now) == [], "a duplicate beat tick claims nothing"
    assert sync.sync_claimed("not-the-token", [link.pk]).skipped == 1, "a stale task does no work"

    # The worker holding the claim died. After the lease, the next run takes the room and converges.
    later = now + timedelta(seconds=settings.CALENDAR_SYNC_LEASE_S + 1)
    (token, ids), = sync.claim_due(later)
    assert sync.sync_claimed(token, ids).synced == 1
    assert sync.sync_claimed(first[0][0], first[0][1]).skipped == 1, "the dead worker's task, redelivered, skips"
    assert Booking.objects.count() == 1


def test_a_notification_during_a_sync_leaves_the_room_due(setup, monkeypatch):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    fetch = MicrosoftCalendars.fetch

    def fetch_while_a_notification_arrives(self, *args):
        results = fetch(self, *args)
        sync.request_sync([link.pk], delay_s=0)
        return results

    monkeypatch.setattr(MicrosoftCalendars, "fetch", fetch_while_a_notification_arrives)
    (token, ids), = sync.claim_due()
    sync.sync_claimed(token, ids)

    link.refresh_from_db()
    assert link.next_sync_at <= timezone.now(), "the change it announced may not be in what we fetched"


def test_a_mailbox_that_does_not_exist_fails_alone_and_backs_off(setup):
    fake, connection = setup
    good = linked_room(connection, fake, "Fjord")
    fake.add_event(good.external_calendar_id, "Busy", soon(1), soon(2))
    bad = linked_room(connection, fake, "Ghost")
    with fake._lock:
        del fake.rooms[bad.external_calendar_id]
        del fake.room_tenants[bad.external_calendar_id]

    report = run_sync()

    assert report.synced == 1 and report.failed == 1
    bad.refresh_from_db()
    assert bad.failures == 1 and "404" in bad.last_error or "ErrorInvalidUser" in bad.last_error
    assert bad.next_sync_at > timezone.now() + timedelta(seconds=30)


def test_revoked_consent_stops_sync_drops_subscriptions_and_asks_for_consent(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    Subscription.objects.create(link=link, external_id="sub-1", resource="/users/x/events", client_state="s",
                                expires_at=timezone.now() + timedelta(days=2))
    CalendarConnection.objects.filter(pk=connection.pk).update(credentials="left over")
    fake.revoke_consent()
    fake.expire_tokens()

    report = run_sync()

    connection.refresh_from_db()
    assert report.synced == 0
    assert connection.status == ConnectionStatus.NEEDS_CONSENT
    assert connection.credentials is None and "unauthorized_client" in connection.status_reason
    assert not Subscription.objects.exists()
    assert run_sync().synced == 0 and sync.claim_due() == [], "nothing of a connection without consent is synced"


def test_graph_refusing_every_room_counts_as_revoked_consent(setup):
    fake, connection = setup
    links = [linked_room(connection, fake, f"Room {i}") for i in range(3)]
    fake.throttle_in_batch(r"/users/.*", status=403, times=100)

    run_sync()

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_CONSENT
    assert all(CalendarLink.objects.get(pk=link.pk).claim_token == "" for link in links)


def test_one_room_refusing_us_does_not_take_the_tenant_offline(setup):
    fake, connection = setup
    links = [linked_room(connection, fake, f"Room {i}") for i in range(3)]
    fake.throttle_in_batch(f"/users/{quote(links[0].external_calendar_id)}/.*", status=403, times=100)
    CalendarLink.objects.exclude(pk=links[0].pk).update(next_sync_at=timezone.now() + timedelta(hours=5))

    report = run_sync()

    connection.refresh_from_db()
    assert report.failed == 1 and connection.status == ConnectionStatus.ACTIVE
    links[0].refresh_from_db()
    assert "403" in links[0].last_error or "ErrorAccessDenied" in links[0].last_error


def test_the_window_follows_the_rooms_local_day_across_dst():
    # 2026-10-25 is the autumn DST change in Oslo: that local day lasts 25 hours.
    start, end = sync.sync_window("Europe/Oslo", datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert start == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert end == datetime(2026, 10, 26, 23, 0, tzinfo=UTC)  # two local days: 25 h + 24 h
    # Just after local midnight the window is already the new day's.
    start, _ = sync.sync_window("America/New_York", datetime(2026, 11, 23, 5, 30, tzinfo=UTC))
    assert start == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_the_daily_sync_is_after_local_midnight_and_spread_per_room():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    times = {sync.next_daily_sync("Europe/Oslo", room_id, now) for room_id in range(50)}
    midnight = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert all(midnight <= moment < midnight + timedelta(hours=1) for moment in times)
    assert len(times) > 40


def test_consent_revoked_while_a_token_is_cached_is_noticed_at_the_next_sync(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    run_sync()  # msal now holds a valid token for the tenant
    fake.revoke_consent()
    fake.expire_tokens()  # Graph refuses the cached token with 401
    sync.request_sync([link.pk], delay_s=0)

    run_sync()

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_CONSENT
    assert "unauthorized_client" in connection.status_reason
    assert len(fake.token_requests()) == 2, "one fresh token request after the 401, not a loop"


def test_a_room_without_its_own_zone_syncs_its_buildings_local_day(setup):
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord", time_zone="")  # the building (HQ) is in Europe/Oslo
    run_sync()
    link.refresh_from_db()
    expected, _ = sync.sync_window("Europe/Oslo", timezone.now())
    assert link.sync_window_start == expected


# --------------------------------------------------------------------------------------------------------
# The first sync of a link reaches back CALENDAR_SYNC_DAYS_BACK local days
# --------------------------------------------------------------------------------------------------------

LOS_ANGELES, OSLO = ZoneInfo("America/Los_Angeles"), ZoneInfo("Europe/Oslo")


def local(days_ago: int, hour: int, zone: ZoneInfo = LOS_ANGELES) -> datetime:
    """``hour`` o'clock local time ``days_ago`` local days before today in ``zone`` (computed when called)."""
    today = timezone.now().astimezone(zone).date()
    return datetime.combine(today - timedelta(days=days_ago), time(hour), tzinfo=zone)


def add_local_event(fake, link, subject: str, start: datetime, hours: float = 1.0) -> dict:
    # The fake takes naive times in a named zone: give it UTC, so that no zone name needs translating.
    start_utc = start.astimezone(UTC).replace(tzinfo=None)
    return fake.add_event(link.external_calendar_id, subject, start_utc, start_utc + timedelta(hours=hours))


def fresh_round_windows(fake, link) -> list[tuple[datetime, datetime]]:
    """startDateTime/endDateTime of every fresh (not delta-token) round the sync sent for ``link``."""
    windows = []
    for _, path in fake.batch_log:
        split = urlsplit(path)
        query = parse_qs(split.query)
        if quote(link.external_calendar_id) in split.path and "startDateTime" in query:
            windows.append((datetime.fromisoformat(query["startDateTime"][0].replace("Z", "+00:00")),
                            datetime.fromisoformat(query["endDateTime"][0].replace("Z", "+00:00"))))
    return windows


def test_a_new_links_first_sync_reaches_back_a_week_of_the_rooms_local_days(setup, settings):
    settings.CALENDAR_SYNC_DAYS_BACK = 7
    fake, connection = setup
    link = linked_room(connection, fake, "Redwood", time_zone="America/Los_Angeles")
    three_days = add_local_event(fake, link, "Three days ago", local(3, 10))
    evening = add_local_event(fake, link, "Yesterday evening", local(1, 20))
    week_and_a_day = add_local_event(fake, link, "Eight days ago", local(8, 10))
    later = add_local_event(fake, link, "Tomorrow", local(-1, 9))

    report = run_sync()

    assert report.synced == 1
    stored = set(Booking.objects.filter(room=link.room).values_list("external_id", flat=True))
    assert stored == {three_days["id"], evening["id"], later["id"]}
    assert week_and_a_day["id"] not in stored
    assert Booking.objects.get(external_id=evening["id"]).start == local(1, 20)
    today_start, window_end = sync.sync_window("America/Los_Angeles", timezone.now())
    assert fresh_round_windows(fake, link) == [(local(7, 0), window_end)], "local midnight a week ago, in LA"
    link.refresh_from_db()
    assert (link.sync_window_start, link.sync_window_end) == (today_start, window_end), (
        "incremental syncs continue in today's window")


def test_later_syncs_keep_todays_window(setup, settings):
    settings.CALENDAR_SYNC_DAYS_BACK = 7
    fake, connection = setup
    link = linked_room(connection, fake, "Redwood", time_zone="America/Los_Angeles")
    past = add_local_event(fake, link, "Three days ago", local(3, 10))
    run_sync()

    new = add_local_event(fake, link, "Booked just now", local(0, 23))
    sync.request_sync([link.pk], delay_s=0)
    incremental = run_sync()
    sync.request_sync([link.pk], delay_s=0, full=True)  # as after a lost subscription: a full round, not a first
    full = run_sync()

    assert incremental.counts.created == 1 and Booking.objects.filter(external_id=new["id"]).exists()
    assert any("$deltatoken=" in path for _, path in fake.batch_log), "the second sync continued the delta link"
    today_start, window_end = sync.sync_window("America/Los_Angeles", timezone.now())
    assert fresh_round_windows(fake, link) == [(local(7, 0), window_end), (today_start, window_end)]
    assert full.counts.cancelled == 0 and not Booking.objects.get(external_id=past["id"]).cancelled, (
        "a full round of today's window leaves the backfilled days alone")


def test_with_no_days_back_the_first_sync_is_todays_window_only(setup, settings):
    settings.CALENDAR_SYNC_DAYS_BACK = 0
    fake, connection = setup
    link = linked_room(connection, fake, "Redwood", time_zone="America/Los_Angeles")
    add_local_event(fake, link, "Yesterday evening", local(1, 20))
    today = add_local_event(fake, link, "Today", local(0, 9))

    run_sync()

    assert list(Booking.objects.filter(room=link.room).values_list("external_id", flat=True)) == [today["id"]]


def test_a_room_linked_again_takes_back_its_past_bookings_instead_of_storing_them_twice(setup, settings):
    settings.CALENDAR_SYNC_DAYS_BACK = 7
    fake, connection = setup
    link = linked_room(connection, fake, "Fjord")
    past = add_local_event(fake, link, "Three days ago", local(3, 10, OSLO))
    coming = add_local_event(fake, link, "Tomorrow", local(-1, 10, OSLO))
    run_sync()
    unlink_calendar(link)  # past bookings stay for the reports, with no link; future ones go
    assert list(Booking.objects.values_list("external_id", "link")) == [(past["id"], None)]

    again = CalendarLink.objects.create(connection=connection, room=link.room,
                                        external_calendar_id=link.external_calendar_id, next_sync_at=timezone.now())
    report = run_sync()

    assert report.synced == 1
    assert sorted(Booking.objects.values_list("external_id", "link")) == sorted(
        [(past["id"], again.pk), (coming["id"], again.pk)])
