"""The sandbox's simulated Cisco Spaces occupancy, as pure functions: the plan follows the demo meetings, and the
sensors speak as the real ones do (DESIGN.md section 6): on change only, a Webex full report about hourly,
presence lagging the people count, nothing during the nightly outage, every event in the real envelope."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from firehose.events import parse_line, read
from spaces_calendar.partner import firehose_payloads as fp
from spaces_calendar.partner.firehose_fake import REPLAY_WINDOW_S, FakeFirehose
from spaces_calendar.providers.microsoft.demo import add_demo_meetings, add_demo_rooms
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox import spaces_demo as demo

DAY = date(2025, 3, 12)  # a Wednesday; the plan's meetings are on DAY and DAY2
DAY2 = DAY + timedelta(days=1)
ROOMS = {room.name: room for room in demo.ROOMS}
GRACE = timedelta(minutes=10)
ENVELOPE_FIELDS = {"recordUid", "recordTimestamp", "spacesTenantId", "spacesTenantName", "partnerTenantId",
                   "eventType"}


@pytest.fixture(scope="module")
def bookings() -> list[demo.Booking]:
    fake = FakeMicrosoft(tenant_id=config.MICROSOFT_TENANT_ID)
    add_demo_rooms(fake)
    add_demo_meetings(fake, DAY)
    return demo.bookings_from_fake(fake)


@pytest.fixture(scope="module")
def day_events(bookings) -> list[demo.DemoEvent]:
    """Both days of the plan, from DAY's midnight: on DAY2 every camera room has spoken at least once before."""
    start = demo.day_start(demo.local_time(DAY, "12:00"))
    return demo.simulate(bookings, start, start + timedelta(days=2))


def at(hhmm: str, day: date = DAY) -> datetime:
    return demo.local_time(day, hhmm)


def moment(event: demo.DemoEvent) -> datetime:
    return datetime.fromtimestamp(event.timestamp_ms / 1000, demo.ZONE)


def meeting(bookings, room: str, subject: str, day: date = DAY) -> demo.Booking:
    return next(b for b in bookings if b.room == room and b.subject == subject and b.start.astimezone(demo.ZONE).date()
                == day)


def of_room(events, room: str) -> list[demo.DemoEvent]:
    location = ROOMS[room].location_id
    return [e for e in events if e.kind in ("cameraCounts", "webexTelemetryUpdate")
            and e.payload["location"]["locationId"] == location]


def reported_people(event: demo.DemoEvent) -> int | None:
    """The people count an event reports, None when it says nothing about it."""
    if event.kind == "cameraCounts":
        return event.payload["count"]
    values = [item["peopleCount"] for item in event.payload["telemetries"] if "peopleCount" in item]
    return values[0] if values else None


def people_reported(events, room: str, start: datetime, end: datetime) -> list[int]:
    """What a listener believes about ``room`` over [start, end): the count last reported before ``start`` (it holds:
    delivery is on change), then every count reported until ``end``."""
    held, during = None, []
    for event in of_room(events, room):
        count = reported_people(event)
        if count is None:
            continue
        if moment(event) <= start:
            held = count
        elif moment(event) < end:
            during.append(count)
    assert held is not None, f"{room} had reported nothing by {start}"
    return [held, *during]


def is_full_report(event: demo.DemoEvent) -> bool:
    return event.kind == "webexTelemetryUpdate" and len(event.payload["telemetries"]) == len(fp.WEBEX_METRICS)


def envelope(event: demo.DemoEvent) -> dict:
    fake = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID),
                        partner_tenant_id=config.SPACES_PARTNER_TENANT_ID)  # never started: only builds envelopes
    return fake.event(event.kind, event.payload, timestamp_ms=event.timestamp_ms, event_type=event.event_type,
                      uid=event.uid)


# --------------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("room", "subject", "day"), [
    ("Ember", "Team standup", DAY2), ("Glacier", "Sprint planning", DAY), ("Glacier", "Sprint planning", DAY2)])
def test_nobody_comes_to_a_ghost_booking_through_its_grace_window(bookings, day_events, room, subject, day):
    ghost = meeting(bookings, room, subject, day)

    seen = people_reported(day_events, room, ghost.start, ghost.start + GRACE + timedelta(minutes=1))

    assert seen == [0], "empty, and no word from the camera: nothing changed"


def test_the_ghost_series_is_a_ghost_on_every_day_it_is_booked(bookings):
    standups = [b for b in bookings if (b.room, b.subject) == ("Ember", "Team standup")]
    visits = demo.plan_visits(bookings, [DAY, DAY2])

    assert len(standups) == 2 and len({b.series for b in standups}) == 1 and standups[0].series
    for standup in standups:
        assert demo.people_at(visits, ROOMS["Ember"], standup.start + timedelta(minutes=5)) == 0


@pytest.mark.parametrize(("room", "subject"), [("Fjord", "Quarterly planning"), ("Delta", "Town hall"),
                                               ("Glacier", "Interview"), ("Harbour", "1:1 Ingrid / Lars")])
def test_people_come_to_an_attended_meeting_about_as_many_as_were_invited(bookings, day_events, room, subject):
    attended = meeting(bookings, room, subject)

    seen = people_reported(day_events, room, attended.start + timedelta(minutes=5),
                           attended.end - timedelta(minutes=5))

    assert min(seen) >= 1
    assert max(seen) <= min(attended.attendees, ROOMS[room].capacity)
    assert max(seen) >= attended.attendees - 3


def test_a_late_meeting_is_empty_past_the_grace_window_then_people_arrive(bookings, day_events):
    for room, subject in demo.LATE:
        late = meeting(bookings, room, subject, DAY2)

        before = people_reported(day_events, room, late.start, late.start + GRACE + timedelta(minutes=1))
        after = people_reported(day_events, room, late.start + timedelta(minutes=16), late.end - timedelta(minutes=4))

        assert before == [0] and min(after) > 0, (room, subject)


def test_an_early_end_empties_the_room_well_before_the_booking_ends(bookings, day_events):
    call = meeting(bookings, "Fjord", "Customer call: Nordlys AS")

    assert min(people_reported(day_events, "Fjord", call.start + timedelta(minutes=5),
                               call.start + timedelta(minutes=15))) > 0
    assert set(people_reported(day_events, "Fjord", call.start + timedelta(minutes=21), call.end)) == {0}


def test_a_room_is_used_without_a_booking_and_empty_otherwise(day_events):
    assert set(people_reported(day_events, "Cedar", at("13:31"), at("13:59"))) == {1}
    assert set(people_reported(day_events, "Cedar", at("17:00"), at("23:59"))) == {0}
    assert set(people_reported(day_events, "Fjord", at("00:00", DAY2), at("08:30", DAY2))) == {0}


def test_a_room_without_a_sensor_never_speaks(day_events):
    assert ROOMS["Vault"].sensor == demo.NO_SENSOR
    assert of_room(day_events, "Vault") == []


def test_most_rooms_have_a_sensor_cameras_and_a_webex_device_among_them():
    sensors = [room.sensor for room in demo.ROOMS]

    assert sensors.count(demo.CAMERA) >= 1 and sensors.count(demo.WEBEX) >= 1
    assert sensors.count(demo.NO_SENSOR) < len(sensors) / 2
    assert ROOMS["Delta"].webex_workspace_id == config.WEBEX_WORKSPACE_ID


# --------------------------------------------------------------------------------------------------------
# Delivery on change
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("room", [room.name for room in demo.ROOMS if room.sensor == demo.CAMERA])
def test_a_camera_reports_only_changes_with_their_delta(day_events, room):
    counts = of_room(day_events, room)
    previous = 0  # every room is empty at midnight

    assert counts, "people came at least once in two days"
    for event in counts:
        assert set(event.payload) == {"location", "count", "countDelta"}
        assert event.payload["count"] != previous, f"a repeated count at {moment(event)}"
        assert event.payload["countDelta"] == event.payload["count"] - previous
        previous = event.payload["count"]


def test_a_webex_device_reports_what_changed_and_nothing_else_between_full_reports(day_events):
    reports = of_room(day_events, "Delta")
    last: dict[str, object] = {}
    changes = 0

    for event in reports:
        items = event.payload["telemetries"]
        assert all(len(item) == 1 for item in items), "one bare metric per element"
        metrics = {key: value for item in items for key, value in item.items()}
        if not is_full_report(event):
            changes += 1
            assert set(metrics) <= {"presence", "peopleCount"} and metrics
            for key, value in metrics.items():
                assert last.get(key) != value, f"{key} repeated at {moment(event)} without a change"
        last.update(metrics)

    assert changes >= 4, "the town hall and the training came and went"


def test_a_webex_device_sends_a_full_report_of_every_metric_about_hourly(day_events):
    full = [e for e in of_room(day_events, "Delta") if is_full_report(e)]
    windows = demo.outage_windows(moment(full[0]), moment(full[-1]))

    for event in full:
        assert [next(iter(item)) for item in event.payload["telemetries"]] == list(fp.WEBEX_METRICS)
    gaps = {b.timestamp_ms - a.timestamp_ms for a, b in zip(full, full[1:], strict=False)}
    assert gaps <= {3_600_000, 7_200_000}, "hourly, but for the one the nightly outage swallowed"
    assert len(full) == 48 - len(windows)
    assert {moment(e).minute for e in full} == {moment(full[0]).minute}, "at a minute of the hour of its own"


def test_webex_presence_turns_false_two_minutes_after_the_people_count_drops(bookings, day_events):
    town_hall = meeting(bookings, "Delta", "Town hall")
    [visit] = [v for v in demo.plan_visits(bookings, [DAY]) if v.room == "Delta" and v.key == town_hall.key]
    changes = [e for e in of_room(day_events, "Delta") if not is_full_report(e)
               and visit.leave - timedelta(seconds=1) <= moment(e) <= visit.leave + timedelta(minutes=5)]

    assert [(moment(e) - visit.leave, e.payload["telemetries"]) for e in changes] == [
        (timedelta(0), [{"peopleCount": 0}]),
        (demo.PRESENCE_LAG, [{"presence": False}]),
    ]


def test_arrivals_turn_presence_and_the_count_on_together(bookings, day_events):
    town_hall = meeting(bookings, "Delta", "Town hall")
    [visit] = [v for v in demo.plan_visits(bookings, [DAY]) if v.room == "Delta" and v.key == town_hall.key]

    [arrival] = [e for e in of_room(day_events, "Delta") if moment(e) == visit.arrive]

    assert arrival.payload["telemetries"][0] == {"presence": True}
    assert arrival.payload["telemetries"][1]["peopleCount"] >= 1


# --------------------------------------------------------------------------------------------------------
# The outage, determinism, replays
# --------------------------------------------------------------------------------------------------------


def test_nothing_is_published_during_the_nightly_outage_which_outlasts_the_replay_window(day_events):
    start = demo.day_start(at("12:00"))
    windows = demo.outage_windows(start, start + timedelta(days=2))

    assert [(datetime.fromtimestamp(a / 1000, demo.ZONE).strftime("%H:%M"), (b - a) / 60_000) for a, b in windows] == [
        ("02:00", 90.0), ("02:00", 90.0)]
    assert (windows[0][1] - windows[0][0]) / 1000 > REPLAY_WINDOW_S
    for low, high in windows:
        assert not [e for e in day_events if low <= e.timestamp_ms < high]
        assert [e for e in day_events if high <= e.timestamp_ms < high + 3_600_000], "the feed resumes after it"


def test_the_outage_can_be_moved_or_switched_off(bookings, monkeypatch):
    start, end = at("01:00"), at("05:00")
    monkeypatch.setattr(demo, "NIGHTLY_OUTAGE", ("03:00", "03:10"))

    moved = demo.outage_windows(start, end)
    none = demo.simulate(bookings, start, end, outage=None)

    assert moved == [(demo._ms(at("03:00")), demo._ms(at("03:10")))]
    assert [e for e in none if at("02:00") <= moment(e) < at("03:30")], "without an outage the night has reports"


def test_the_events_are_the_same_whatever_the_window_asked_for(bookings):
    start, middle, end = at("08:00:05"), at("10:17:31.250"), at("16:00")

    whole = demo.simulate(bookings, start, end)
    split = demo.simulate(bookings, start, middle) + demo.simulate(bookings, middle, end)

    assert whole == split, "a restarted or behind feed publishes the very same events"
    assert whole == demo.simulate(bookings, start, end), "deterministic, recordUid included"
    assert len({event.uid for event in whole}) == len(whole)
    stamps = [event.timestamp_ms for event in whole]
    assert stamps == sorted(stamps)
    assert min(stamps) > start.timestamp() * 1000 and max(stamps) <= end.timestamp() * 1000


def test_an_event_type_we_do_not_read_comes_every_hour(day_events):
    unread = [e for e in day_events if e.kind == demo.UNREAD_KIND]

    assert unread and {moment(e).minute for e in unread} == {30}
    assert envelope(unread[0])["eventType"] == "DEVICE_LOCATION_UPDATE"


# --------------------------------------------------------------------------------------------------------
# Envelopes, locations, and our parser
# --------------------------------------------------------------------------------------------------------


def test_every_event_is_an_envelope_with_one_payload_named_by_its_type(day_events):
    for event in [*day_events, *demo.hierarchy_events(at("00:00"))]:
        line = envelope(event)
        name = fp.PAYLOAD_OF_TYPE[line["eventType"]]
        assert set(line) == ENVELOPE_FIELDS | {name}, line
        assert line["spacesTenantId"] == str(config.SPACES_TENANT_ID)
        assert line["partnerTenantId"] == config.SPACES_PARTNER_TENANT_ID


def test_a_room_location_is_its_zone_in_its_floor_in_the_building_up_to_the_root():
    where = demo.room_location(ROOMS["Ember"])

    chain = []
    while where:
        chain.append((where["name"], where["inferredLocationTypes"][0], where.get("floorNumber")))
        where = where.get("parent")
    assert chain == [("Ember", "ZONE", None), ("Second floor", "FLOOR", 2), ("Demo HQ", "BUILDING", None),
                     ("Oslo", "CAMPUS", None), (config.SPACES_TENANT_NAME, "ROOT", None)]


def test_the_hierarchy_adds_every_location_once_with_its_time_zone():
    events = demo.hierarchy_events(at("08:00"))

    added = {e.payload["location"]["locationId"]: e.payload for e in events}
    assert len(added) == len(events) == 1 + 1 + 1 + 3 + len(demo.ROOMS) + 1
    assert {p["changeType"] for p in added.values()} == {"ADD"}
    assert {p["locationDetails"]["timeZone"] for p in added.values()} == {config.TIME_ZONE}
    assert {room.location_id for room in demo.ROOMS} | {"sandbox-loc-phone-booth-1"} <= set(added)
    assert added["sandbox-loc-phone-booth-1"]["location"]["name"] == "Phone booth 1", "a location with no room"
    outermost = [e.payload["location"]["inferredLocationTypes"][0] for e in events[:3]]
    assert outermost == ["ROOT", "CAMPUS", "BUILDING"]


def test_every_occupancy_event_reads_as_signals_for_the_demo_rooms(day_events):
    """Needs the parser of DESIGN.md section 6 (firehose/events.py)."""
    locations = {room.location_id for room in demo.ROOMS}
    for event in day_events:
        reading = read(parse_line(json.dumps(envelope(event))))
        if event.kind == demo.UNREAD_KIND:
            assert reading.skipped and not reading.signals
            continue
        assert reading.signals and not reading.skipped, (event.kind, event.payload)
        for signal in reading.signals:
            assert signal.key in locations | {config.WEBEX_WORKSPACE_ID}
            assert signal.observed_at == datetime.fromtimestamp(event.timestamp_ms / 1000, UTC)
        if event.kind == "cameraCounts":
            assert {(s.present, s.people_count) for s in reading.signals} == {
                (event.payload["count"] > 0, event.payload["count"])}


def test_a_webex_change_reads_as_what_changed(bookings, day_events):
    """Needs the parser of DESIGN.md section 6 (firehose/events.py)."""
    town_hall = meeting(bookings, "Delta", "Town hall")
    [visit] = [v for v in demo.plan_visits(bookings, [DAY]) if v.room == "Delta" and v.key == town_hall.key]
    [emptied] = [e for e in of_room(day_events, "Delta") if moment(e) == visit.leave]
    [lagged] = [e for e in of_room(day_events, "Delta") if moment(e) == visit.leave + demo.PRESENCE_LAG]

    people = read(parse_line(json.dumps(envelope(emptied)))).signals
    presence = read(parse_line(json.dumps(envelope(lagged)))).signals

    assert [s.people_count for s in people] == [0] and {s.present for s in people} <= {None, False}
    assert [s.present for s in presence] == [False] and {s.people_count for s in presence} == {None}


def test_the_hierarchy_reads_as_rooms_with_their_time_zone():
    """Needs the parser of DESIGN.md section 6 (firehose/events.py)."""
    changes = [change for event in demo.hierarchy_events(at("00:00"))
               for change in read(parse_line(json.dumps(envelope(event)))).location_changes]

    rooms = {c.location_id: c for c in changes if c.is_room}
    assert {room.location_id: room.name for room in demo.ROOMS}.items() <= {k: c.name for k, c in rooms.items()}.items()
    assert rooms["sandbox-loc-phone-booth-1"].name == "Phone booth 1"
    assert {c.time_zone for c in changes} == {config.TIME_ZONE}
    assert {c.change for c in changes} == {"ADD"}


# --------------------------------------------------------------------------------------------------------
# The feed
# --------------------------------------------------------------------------------------------------------


def test_the_feed_publishes_the_last_replay_window_then_only_what_happens_next(bookings):
    firehose = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID))
    started = at("08:55:00")
    now = [started]
    feed = demo.OccupancyFeed(firehose, lambda: bookings, interval_s=10, clock=lambda: now[0])

    replayed = feed.backfill()
    now[0] += timedelta(seconds=30)
    quiet = feed.publish_due()
    now[0] = at("09:10")
    live = feed.publish_due()

    window = timedelta(seconds=firehose.replay_window_s)
    hierarchy = demo.hierarchy_events(started)
    assert replayed == len(demo.simulate(bookings, started - window, started)) + len(hierarchy)
    assert quiet == len(demo.simulate(bookings, started, started + timedelta(seconds=30)))
    assert live == len(demo.simulate(bookings, started + timedelta(seconds=30), at("09:10"))) > 0
    assert feed.rounds == 2 and feed.published == len(firehose.log)
    uids = [logged.uid for logged in firehose.log]
    assert uids[replayed - len(hierarchy):replayed] == [e.uid for e in hierarchy], "the hierarchy when it starts"
    assert min(logged.timestamp_ms for logged in firehose.log) > demo._ms(started - window)


def test_the_feed_scripts_the_nightly_outage_on_the_fake(bookings):
    firehose = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID), clock=lambda: at("22:00").timestamp())
    feed = demo.OccupancyFeed(firehose, lambda: bookings, clock=lambda: at("22:00"))

    feed.backfill()

    assert firehose.outages == [(demo._ms(at("02:00", DAY2)), demo._ms(at("03:30", DAY2)))]
    assert firehose.is_down(demo._ms(at("02:30", DAY2))) and not firehose.is_down(demo._ms(at("03:30", DAY2)))


def test_a_feed_started_during_the_outage_publishes_nothing_until_it_ends(bookings):
    now = [at("03:00")]
    firehose = FakeFirehose(spaces_tenant_id=str(config.SPACES_TENANT_ID), clock=lambda: now[0].timestamp())
    feed = demo.OccupancyFeed(firehose, lambda: bookings, clock=lambda: now[0])

    feed.backfill()
    now[0] = at("03:29:59")
    during = feed.publish_due()

    assert firehose.is_down(), "the stream is down from the start"
    assert during == 0
    assert [logged for logged in firehose.log if demo._ms(at("02:00")) <= logged.timestamp_ms < demo._ms(at("03:00"))
            ] == [], "the last hour, which is all outage, has nothing"
