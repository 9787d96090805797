"""The sandbox's simulated Cisco Spaces occupancy, as pure functions: the plan follows the demo meetings, and every
event is one the Firehose receiver reads into a signal for the right room."""

import json
from datetime import date, datetime, timedelta

import pytest

from firehose.events import parse_line, read
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox import spaces_demo as demo
from spaces_calendar.sandbox.microsoft_demo import add_demo_meetings, add_demo_rooms

DAY = date(2025, 3, 12)  # a Wednesday
ROOMS = {room.name: room for room in demo.ROOMS}
GRACE = timedelta(minutes=10)


@pytest.fixture(scope="module")
def bookings() -> list[demo.Booking]:
    fake = FakeMicrosoft(tenant_id=config.MICROSOFT_TENANT_ID)
    add_demo_rooms(fake)
    add_demo_meetings(fake, DAY)
    return demo.bookings_from_fake(fake)


@pytest.fixture(scope="module")
def day_events(bookings) -> list[demo.DemoEvent]:
    start = demo.day_start(demo.local_time(DAY, "12:00"))
    return demo.simulate(bookings, start, start + timedelta(days=1), step_s=60)


def at(hhmm: str, day: date = DAY) -> datetime:
    return demo.local_time(day, hhmm)


def meeting(bookings, room: str, subject: str, day: date = DAY) -> demo.Booking:
    return next(b for b in bookings if b.room == room and b.subject == subject and b.start.astimezone(demo.ZONE).date()
                == day)


def counts(events, room: str, start: datetime, end: datetime) -> list[int]:
    """The people count each occupancy report of ``room`` gives for [start, end)."""
    found = []
    for event in events:
        moment = datetime.fromtimestamp(event.timestamp_ms / 1000, demo.ZONE)
        if not start <= moment < end:
            continue
        if event.kind == "spaceOccupancy" and event.payload["location"]["locationId"] == ROOMS[room].location_id:
            found.append(event.payload["occupancy"]["peopleCount"])
        elif event.kind == "webexTelemetryUpdate" and event.payload["device"]["workspaceId"] == \
                ROOMS[room].webex_workspace_id:
            found.append(event.payload["telemetries"][0]["peopleCount"]["peopleCount"])
    return found


def envelope(event: demo.DemoEvent) -> bytes:
    fake = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID))  # never started: only builds envelopes
    built = fake.event(event.kind, event.payload, timestamp_ms=event.timestamp_ms, event_type=event.event_type,
                       uid=event.uid)
    return json.dumps(built).encode()


@pytest.mark.parametrize(("room", "subject"), sorted(demo.GHOSTS))
def test_nobody_comes_to_a_ghost_booking_through_its_grace_window(bookings, day_events, room, subject):
    ghost = meeting(bookings, room, subject)

    seen = counts(day_events, room, ghost.start, ghost.start + GRACE + timedelta(minutes=1))

    assert len(seen) >= 10 and set(seen) == {0}


def test_the_ghost_series_is_a_ghost_on_every_day_it_is_booked(bookings):
    standups = [b for b in bookings if (b.room, b.subject) == ("Ember", "Team standup")]
    visits = demo.plan_visits(bookings, [DAY, DAY + timedelta(days=1)])

    assert len(standups) == 2
    for standup in standups:
        assert demo.people_at(visits, ROOMS["Ember"], standup.start + timedelta(minutes=5)) == 0


@pytest.mark.parametrize(("room", "subject"), [("Fjord", "Quarterly planning"), ("Delta", "Town hall"),
                                               ("Glacier", "Interview"), ("Vault", "Audit committee")])
def test_people_come_to_an_attended_meeting_about_as_many_as_were_invited(bookings, day_events, room, subject):
    attended = meeting(bookings, room, subject)

    seen = counts(day_events, room, attended.start + timedelta(minutes=5), attended.end - timedelta(minutes=5))

    assert seen and min(seen) >= 1
    assert max(seen) <= min(attended.attendees, ROOMS[room].capacity)
    assert max(seen) >= attended.attendees - 3


def test_a_late_meeting_is_empty_past_the_grace_window_then_people_arrive(bookings, day_events):
    retro = meeting(bookings, "Ember", "Retrospective")

    before = counts(day_events, "Ember", retro.start, retro.start + GRACE + timedelta(minutes=1))
    after = counts(day_events, "Ember", retro.start + timedelta(minutes=16), retro.end - timedelta(minutes=4))

    assert set(before) == {0} and min(after) > 0


def test_an_early_end_empties_the_room_well_before_the_booking_ends(bookings, day_events):
    call = meeting(bookings, "Fjord", "Customer call: Nordlys AS")

    assert min(counts(day_events, "Fjord", call.start + timedelta(minutes=5), call.start + timedelta(minutes=15))) > 0
    assert set(counts(day_events, "Fjord", call.start + timedelta(minutes=21), call.end)) == {0}


def test_a_room_is_used_without_a_booking_and_empty_otherwise(day_events):
    assert set(counts(day_events, "Cedar", at("13:31"), at("13:59"))) == {1}
    assert set(counts(day_events, "Cedar", at("17:00"), at("23:59"))) == {0}
    assert set(counts(day_events, "Fjord", at("00:00"), at("08:30"))) == {0}


def test_webex_presence_lingers_after_people_leave_as_a_room_device_reports_it(bookings):
    town_hall = meeting(bookings, "Delta", "Town hall")
    visits = demo.plan_visits(bookings, [DAY])
    [visit] = [v for v in visits if v.room == "Delta" and v.key == town_hall.key]
    tick = int((visit.leave + timedelta(seconds=30)).timestamp() * 1000) // 10_000 * 10_000 + 10_000

    end = datetime.fromtimestamp(tick / 1000, demo.ZONE)
    [event] = [e for e in demo.simulate(bookings, end - timedelta(seconds=10), end, step_s=10)
               if e.kind == "webexTelemetryUpdate"]

    people, presence = event.payload["telemetries"]
    assert people["peopleCount"]["peopleCount"] == 0
    assert presence["presence"]["presenceStatus"] == "PRESENT"


def test_the_events_are_in_the_requested_range_and_the_same_every_time(bookings):
    start, end = at("09:00:05"), at("10:00:05")

    events = demo.simulate(bookings, start, end, step_s=10)

    stamps = [event.timestamp_ms for event in events]
    assert min(stamps) > start.timestamp() * 1000 and max(stamps) <= end.timestamp() * 1000
    assert events == demo.simulate(bookings, start, end, step_s=10), "deterministic, recordUid included"
    assert len({event.uid for event in events}) == len(events)
    kinds = [event.kind for event in events]
    assert kinds.count("spaceOccupancy") == 8 * 360 and kinds.count("webexTelemetryUpdate") == 360
    assert kinds.count("deviceCounts") == 9 * 12 and kinds.count("cameraCounts") == 60
    assert kinds.count(demo.UNKNOWN_KIND) == 1


def test_a_coarser_replay_repeats_the_live_events_under_the_same_uids(bookings):
    live = demo.simulate(bookings, at("14:00"), at("14:10"), step_s=10)
    replay = demo.simulate(bookings, at("14:00"), at("14:10"), step_s=60)

    shared = {e.uid for e in live} & {e.uid for e in replay}
    assert {e.uid for e in replay if e.kind in ("deviceCounts", "cameraCounts")} <= shared


def test_every_event_reads_as_signals_for_the_demo_rooms(day_events):
    locations = {room.location_id for room in demo.ROOMS}
    sources, skipped = set(), set()

    for event in day_events:
        reading = read(parse_line(envelope(event)))
        skipped.add(reading.skipped)
        for signal in reading.signals:
            sources.add(signal.source)
            if signal.key_kind == "webex_workspace":
                assert signal.key == config.WEBEX_WORKSPACE_ID
            else:
                assert signal.key in locations

    assert sources == {"spaces_occupancy", "webex", "spaces_wifi", "spaces_camera"}
    assert skipped == {"", "unknown_type:BLE_RSSI_UPDATE"}


def test_the_spaces_tenant_of_the_events_is_the_one_the_activation_token_names(day_events):
    event = parse_line(envelope(day_events[0]))

    assert event.spaces_tenant_id == str(config.SPACES_TENANT_ID)


def test_the_hierarchy_names_every_demo_room_at_its_location(day_events):
    change = demo.hierarchy_event(at("00:00"))

    reading = read(parse_line(envelope(change)))

    rooms = {c.location_id: c.name for c in reading.location_changes if c.is_room}
    assert {ROOMS[name].location_id: name for name in ROOMS}.items() <= rooms.items()
    assert rooms["sandbox-loc-phone-booth-1"] == "Phone booth 1", "a location we have no room for"


def test_the_feed_replays_the_day_so_far_then_publishes_only_new_ticks(bookings):
    firehose = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID))
    now = [at("08:00:00")]
    feed = demo.OccupancyFeed(firehose, lambda: bookings, interval_s=10, clock=lambda: now[0])

    replayed = feed.backfill()
    now[0] += timedelta(seconds=30)
    live = feed.publish_due()

    assert replayed == len(firehose.log) - live
    # 480 one-minute ticks: 9 rooms each, Wi-Fi counts every 5 minutes, Fjord's camera, 8 unknown events, building.
    assert replayed == 480 * 9 + 96 * 9 + 480 + 8 + 1
    assert live == 3 * 9
    stamps = [logged.timestamp_ms for logged in firehose.log]
    assert stamps[0] == int(demo.day_start(now[0]).timestamp() * 1000), "the building comes first"
    assert stamps[1:] == sorted(stamps[1:]) and max(stamps) <= now[0].timestamp() * 1000
