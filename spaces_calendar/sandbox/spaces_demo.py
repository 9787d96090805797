"""Simulated Cisco Spaces occupancy for the sandbox's demo rooms, following their calendars, sent as the real
Firehose sends it.

Who is in a room follows the room's meetings in the fake Microsoft 365 (planned in ``providers/microsoft/demo.py``)
as they are at that moment, so a meeting booked, moved or cancelled on the sandbox page changes the occupancy too:

* people come to most meetings, from two minutes before to four minutes after the start, about as many as were
  invited (now and then one steps out for a minute), and leave up to three minutes before the end;
* **ghost bookings**, every day they are booked: nobody comes to the daily "Team standup" series (Ember, 09:00),
  which therefore turns into a zombie series after three days, nor to "Sprint planning" (Glacier, 14:00);
* **late starts**: "Retrospective" (Ember, 15:30) begins 15 minutes late, "Phone interview" (Cedar, 11:00) 12;
* **early end**: the "Customer call: Nordlys AS" (Fjord, 13:00, 45 min) is over after 20 minutes;
* the all-day "Board offsite preparation" (Aurora) has its people from 09:30 to 11:30 only;
* **unbooked occupancy**, every day: Harbour 11:15-11:35 (2 people), Cedar 13:30-14:00 (1), Birch 16:00-16:40 (3);
* empty otherwise.

What the sensors send (``../shared/DESIGN.md`` section 6: delivery is **on change**, not periodic):

* Delta has a Webex Room Kit: a ``webexTelemetryUpdate`` whenever its presence or people count changes, carrying
  only what changed (``{"peopleCount": 0}``), plus a full report of every metric (presence, peopleCount,
  soundLevel, ambientNoise, ambientTemp, relativeHumidity, airQuality) about hourly, at a minute of the hour of
  its own. The people count drops as people leave; presence turns false about two minutes after the last one left
  (the detector's lag). Environment metrics are only in the hourly reports here (a device also sends them on
  change); a device in standby reporting −1 is not simulated.
* Fjord, Glacier, Harbour, Aurora, Birch, Cedar and Ember have a Meraki camera: a ``cameraCounts`` (``count``,
  ``countDelta``) when the count changes, and nothing while it does not, at night or all through a ghost booking.
* Vault has no sensor at all: its bookings can only be unknown.
* One ``locationHierarchyChange`` (``ADD``) per location when the feed starts: the tenant's root, the Oslo campus,
  the building, its floors, the rooms and a phone booth we have no room for, each nested innermost first with
  ``locationDetails.timeZone``; a ``DEVICE_LOCATION_UPDATE``, which we do not read, every hour at :30.
* **A scripted outage every night** (:data:`NIGHTLY_OUTAGE`, 02:00-03:30 local, longer than the hour Cisco
  replays): nothing is published and the fake Firehose refuses and cuts streams, so a receiver reconnecting at
  03:30 cannot get back the first half hour, which must show as unknown.

No ``spaceOccupancy`` or ``deviceCounts``: their cadence (a per-window aggregate; Wi-Fi devices, not people) would
only muddy which source saw what. The payloads are built by :mod:`spaces_calendar.partner.firehose_payloads` from
DESIGN.md, never from what our parser reads. Everything is a pure function of the bookings and the clock,
``recordUid`` included, and an event's existence does not depend on the window asked for (each is a change at a
moment, or a report at a fixed minute): a restarted sandbox publishes the same events under the same uids, and the
receiver drops the ones it already applied. :class:`OccupancyFeed` is the thin thread that publishes them into the
fake Firehose: at start the last replay window's worth (what Cisco would still replay), then every ``interval_s``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from base64 import b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spaces_calendar.partner import firehose_payloads as fp
from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.providers.microsoft.demo import BUILDING, room_email
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.providers.microsoft.timezones import from_graph
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.seed import DEMO_ROOMS, UNLISTED_ROOMS

logger = logging.getLogger(__name__)

ZONE = ZoneInfo(config.TIME_ZONE)
#: (room, subject) of the meetings nobody attends.
GHOSTS = {("Ember", "Team standup"), ("Glacier", "Sprint planning")}
#: (room, subject) → minutes after the start when the people arrive.
LATE = {("Ember", "Retrospective"): 15, ("Cedar", "Phone interview"): 12}
#: (room, subject) → minutes after the start when the people leave.
EARLY_END = {("Fjord", "Customer call: Nordlys AS"): 20}
#: People in rooms nobody booked, every day: (room, local start, minutes, people).
UNBOOKED = [("Harbour", "11:15", 20, 2), ("Cedar", "13:30", 30, 1), ("Birch", "16:00", 40, 3)]
#: When the people of an all-day booking are actually in the room (local times).
ALL_DAY_PRESENCE = ("09:30", "11:30")

WEBEX, CAMERA, NO_SENSOR = "webex", "camera", ""
WEBEX_ROOMS = {config.WEBEX_ROOM}
NO_SENSOR_ROOMS = {"Vault"}
#: A Webex device's presence turns false about two minutes after the last person left.
PRESENCE_LAG = timedelta(minutes=2)
#: Webex devices send a full report of their state about this often.
FULL_REPORT_EVERY = timedelta(hours=1)
#: Local (start, end) of the stream's outage every night; None: no outage. Longer than the replay window on
#: purpose. Read when a feed is made or a simulation runs, so tests can move it.
NIGHTLY_OUTAGE: tuple[str, str] | None = ("02:00", "03:30")
#: A feed that fell behind (a suspended laptop) catches up at most this far.
MAX_CATCH_UP = timedelta(hours=6)
UNREAD_KIND = "deviceLocationUpdate"
UNREAD_TYPE = fp.TYPE_OF_PAYLOAD[UNREAD_KIND]
_UID_NAMESPACE = uuid.UUID("5a9dbe0c-5ace-4d3a-9c0f-5a2db0c0ffee")
_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class DemoRoom:
    name: str
    capacity: int
    floor: str
    level: int
    location_id: str
    #: ``webex``, ``camera`` or "" (none).
    sensor: str
    webex_workspace_id: str = ""


def _sensor(name: str) -> str:
    return WEBEX if name in WEBEX_ROOMS else NO_SENSOR if name in NO_SENSOR_ROOMS else CAMERA


ROOMS = tuple(
    DemoRoom(name, capacity, floor, level, config.spaces_location_id(name), _sensor(name),
             config.WEBEX_WORKSPACE_ID if name == config.WEBEX_ROOM else "")
    for (floor, level), rooms in [*DEMO_ROOMS.items(), *UNLISTED_ROOMS.items()]
    for name, capacity in rooms
)


@dataclass(frozen=True)
class Booking:
    room: str
    #: Stable per meeting (the Graph event id): drives the small per-meeting variations.
    key: str
    subject: str
    start: datetime
    end: datetime
    attendees: int
    all_day: bool = False
    #: The Graph series master's id, for occurrences of a series.
    series: str = ""


@dataclass(frozen=True)
class Visit:
    """``people`` in ``room`` from ``arrive`` until ``leave``."""

    room: str
    arrive: datetime
    leave: datetime
    people: int
    key: str


@dataclass(frozen=True)
class DemoEvent:
    """One Firehose event before it gets its envelope (:meth:`FakeFirehose.event`)."""

    kind: str
    payload: dict[str, Any]
    timestamp_ms: int
    uid: str
    event_type: str | None = None


# --------------------------------------------------------------------------------------------------------
# Who is where
# --------------------------------------------------------------------------------------------------------


def bookings_from_fake(fake: FakeMicrosoft) -> list[Booking]:
    """The demo rooms' meetings as the fake Microsoft 365 holds them now (series masters are not meetings)."""
    names = {room_email(room.name): room.name for room in ROOMS}
    bookings = []
    for email, events in list(fake.events.items()):  # list(): the sandbox page may change them meanwhile
        if email not in names:
            continue
        for event in list(events.values()):
            if event.get("type") == "seriesMaster":
                continue
            bookings.append(Booking(names[email], event["id"], event.get("subject") or "", from_graph(event["start"]),
                                    from_graph(event["end"]), len(event.get("attendees") or []),
                                    bool(event.get("isAllDay")), str(event.get("seriesMasterId") or "")))
    return bookings


def plan_visits(bookings: Iterable[Booking], days: Iterable[date]) -> list[Visit]:
    """Who comes to which meeting, plus the unbooked visits of ``days`` (local dates)."""
    visits = [visit for booking in bookings if (visit := _visit(booking)) is not None]
    for day in days:
        for room, start, minutes, people in UNBOOKED:
            arrive = local_time(day, start)
            visits.append(Visit(room, arrive, arrive + timedelta(minutes=minutes), people, f"unbooked|{room}|{day}"))
    return visits


def _visit(booking: Booking) -> Visit | None:
    what = (booking.room, booking.subject)
    if what in GHOSTS:
        return None
    people = max(1, booking.attendees)
    if booking.all_day:
        day = booking.start.date()  # all-day events are stored as midnights
        return Visit(booking.room, local_time(day, ALL_DAY_PRESENCE[0]), local_time(day, ALL_DAY_PRESENCE[1]),
                     people, booking.key)
    roll = _roll(booking.key)  # one number, three choices: arrival (-2..+4 min), early leave (0..3), no-shows (0..2)
    arrive = booking.start + timedelta(minutes=LATE.get(what, roll % 7 - 2))
    if what in EARLY_END:
        leave = booking.start + timedelta(minutes=EARLY_END[what])
    else:
        leave = booking.end - timedelta(minutes=roll // 7 % 4)
    if leave <= arrive:
        return None
    return Visit(booking.room, arrive, leave, max(1, people - roll // 28 % 3), booking.key)


def people_at(visits: Iterable[Visit], room: DemoRoom, at: datetime) -> int:
    total = sum(_present(visit, at) for visit in visits if visit.room == room.name and visit.arrive <= at < visit.leave)
    return min(total, room.capacity)


def _present(visit: Visit, at: datetime) -> int:
    # Now and then someone steps out for a minute; the last person never does.
    stepped_out = visit.people >= 3 and _roll(visit.key, int(at.timestamp() // 60)) % 6 == 0
    return visit.people - int(stepped_out)


def webex_presence(visits: Iterable[Visit], room: DemoRoom, at: datetime) -> bool:
    """What the device's presence detector says: someone is there, or was until less than the lag ago."""
    return any(visit.room == room.name and visit.arrive <= at < visit.leave + PRESENCE_LAG for visit in visits)


# --------------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------------


class _Nightly:
    """The default outage: whatever :data:`NIGHTLY_OUTAGE` says when asked."""


NIGHTLY = _Nightly()
Outage = tuple[str, str] | None | _Nightly


def simulate(bookings: Iterable[Booking], start: datetime, end: datetime, *,
             outage: Outage = NIGHTLY) -> list[DemoEvent]:
    """Every event in (start, end], oldest first: sensor changes, full reports and the unread event type, none of
    them inside an outage. Which events exist does not depend on ``start`` and ``end``: (a, c] is (a, b] + (b, c]."""
    visits = plan_visits(bookings, local_days(start - timedelta(days=1), end))
    low, high = _ms(start), _ms(end)
    events: list[DemoEvent] = []
    for room in ROOMS:
        own = [visit for visit in visits if visit.room == room.name]
        if room.sensor == CAMERA:
            events += _camera_events(room, own, low, high)
        elif room.sensor == WEBEX:
            events += _webex_events(room, own, low, high)
    events += _unread_events(low, high)
    windows = outage_windows(start, end, outage)
    events = [event for event in events if not any(a <= event.timestamp_ms < b for a, b in windows)]
    events.sort(key=lambda event: event.timestamp_ms)  # stable: rooms in order within one millisecond
    return events


def outage_windows(start: datetime, end: datetime, outage: Outage = NIGHTLY) -> list[tuple[int, int]]:
    """The outages (ms, [start, end)) that overlap (start, end]."""
    times = NIGHTLY_OUTAGE if isinstance(outage, _Nightly) else outage
    if times is None:
        return []
    windows = []
    for day in local_days(start - timedelta(days=1), end):
        begin, finish = local_time(day, times[0]), local_time(day, times[1])
        if finish <= begin:
            finish += timedelta(days=1)
        if _ms(finish) > _ms(start) and _ms(begin) <= _ms(end):
            windows.append((_ms(begin), _ms(finish)))
    return windows


def _camera_events(room: DemoRoom, visits: list[Visit], low: int, high: int) -> list[DemoEvent]:
    """A ``cameraCounts`` at each moment the count changes, with the change."""
    events = []
    for moment in _moments(visits, low, high):
        before, now = people_at(visits, room, _at(moment - 1)), people_at(visits, room, _at(moment))
        if now != before:
            payload = fp.camera_counts(room_location(room), now, now - before)
            events.append(DemoEvent("cameraCounts", payload, moment, _uid("cameraCounts", room.location_id, moment)))
    return events


def _webex_events(room: DemoRoom, visits: list[Visit], low: int, high: int) -> list[DemoEvent]:
    """What changed, when it changes; everything, about hourly."""
    events = []
    lags = {_ceil_ms(visit.leave + PRESENCE_LAG) for visit in visits}
    for moment in sorted(_moments(visits, low, high) | {lag for lag in lags if low < lag <= high}):
        before, now = _at(moment - 1), _at(moment)
        changed: dict[str, Any] = {}
        if (present := webex_presence(visits, room, now)) != webex_presence(visits, room, before):
            changed["presence"] = present
        if (people := people_at(visits, room, now)) != people_at(visits, room, before):
            changed["peopleCount"] = people
        if changed:
            payload = fp.webex_telemetry_update(webex_device(room), room_location(room), fp.telemetries(changed))
            events.append(DemoEvent("webexTelemetryUpdate", payload, moment,
                                    _uid("webex-change", room.location_id, moment)))
    for moment in full_report_moments(room, low, high):
        payload = fp.webex_telemetry_update(webex_device(room), room_location(room),
                                            fp.telemetries(full_report(room, visits, moment)))
        events.append(DemoEvent("webexTelemetryUpdate", payload, moment, _uid("webex-full", room.location_id, moment)))
    return sorted(events, key=lambda event: event.timestamp_ms)


def _moments(visits: list[Visit], low: int, high: int) -> set[int]:
    """The moments in (low, high] at which the people count may change: arrivals, departures, and the minutes of
    a visit someone may step out in."""
    moments = set()
    for visit in visits:
        arrive, leave = _ceil_ms(visit.arrive), _ceil_ms(visit.leave)
        if leave <= low or arrive > high:
            continue
        moments |= {arrive, leave}
        if visit.people >= 3:
            first = max(arrive, low) // 60_000 * 60_000 + 60_000
            moments |= set(range(first, min(leave, high) + 1, 60_000))
    return {moment for moment in moments if low < moment <= high}


def full_report_moments(room: DemoRoom, low: int, high: int) -> list[int]:
    """Each hour at the device's own minute and second (so the rooms' reports do not all come at once)."""
    period = int(FULL_REPORT_EVERY.total_seconds() * 1000)
    offset = _roll("full-report", room.name) % period
    first = (low - offset) // period * period + offset + period
    return list(range(first, high + 1, period))


def full_report(room: DemoRoom, visits: list[Visit], moment: int) -> dict[str, Any]:
    """Every metric the device has, as it stands at ``moment``; the environment is warmer and louder with people."""
    people = people_at(visits, room, _at(moment))
    roll = _roll("environment", room.name, moment // _HOUR_MS)
    crowd = min(people, 12)
    return {
        "presence": webex_presence(visits, room, _at(moment)),
        "peopleCount": people,
        "soundLevel": 44 + crowd if people else 26 + roll % 4,  # dBA
        "ambientNoise": 27 + roll % 5,  # dBA
        "ambientTemp": round(20.8 + crowd * 0.15 + roll % 7 / 10, 1),  # °C
        "relativeHumidity": 32 + roll % 6 + crowd // 2,  # %
        "airQuality": round(0.8 + crowd * 0.1 + roll % 3 / 10, 1),  # TVOC index, uncertain unit
    }


def _unread_events(low: int, high: int) -> list[DemoEvent]:
    """A type the receiver does not read, hourly at :30: it must count and skip it."""
    period, offset = _HOUR_MS, _HOUR_MS // 2
    first = (low - offset) // period * period + offset + period
    floor = _floor_levels()[ROOMS[0].level]
    device = {"deviceId": "sandbox-wifi-device-0001", "macAddress": "5a:9d:be:0c:00:01"}
    events = []
    for moment in range(first, high + 1, period):
        roll = _roll(UNREAD_KIND, moment)
        payload = fp.device_location_update(device, fp.location_path(*_outer_levels(), floor),
                                            x_pos=round(5 + roll % 300 / 10, 1), y_pos=round(3 + roll % 170 / 10, 1),
                                            confidence_factor=float(roll % 24 + 8), ssid="SandboxDemo",
                                            map_id="sandbox-map-ground-floor")
        events.append(DemoEvent(UNREAD_KIND, payload, moment, _uid(UNREAD_KIND, moment), UNREAD_TYPE))
    return events


# --------------------------------------------------------------------------------------------------------
# Locations and devices, as Spaces names them
# --------------------------------------------------------------------------------------------------------


ROOT = fp.Level("sandbox-loc-root", config.SPACES_TENANT_NAME, ("ROOT",))
CAMPUS = fp.Level("sandbox-loc-campus-oslo", "Oslo", ("CAMPUS",))
BUILDING_LEVEL = fp.Level("sandbox-loc-demo-hq", BUILDING, ("BUILDING",))
BOOTH = ("sandbox-loc-phone-booth-1", "Phone booth 1", 0)
DETAILS = fp.location_details(config.TIME_ZONE, "Oslo", "Norway")


def _outer_levels() -> tuple[fp.Level, ...]:
    return ROOT, CAMPUS, BUILDING_LEVEL


def _floor_levels() -> dict[int, fp.Level]:
    return {room.level: fp.Level(f"sandbox-loc-floor-{room.level}", room.floor, ("FLOOR",), floor_number=room.level)
            for room in ROOMS}


def _zone(location_id: str, name: str) -> fp.Level:
    # sourceLocationId: the id the location has in the system Spaces took it from (a Meraki or CMX zone).
    return fp.Level(location_id, name, ("ZONE",), source_location_id=f"zone-{_roll('zone', location_id) % 10**8:08d}")


def room_location(room: DemoRoom) -> dict[str, Any]:
    """The room's ``location``: its ZONE, inside its FLOOR, the building, the campus and the tenant's root."""
    return fp.location_path(*_outer_levels(), _floor_levels()[room.level], _zone(room.location_id, room.name))


def hierarchy_events(at: datetime) -> list[DemoEvent]:
    """One ``ADD`` per location of the demo tenant, outermost first, at ``at``: root, campus, building, floors,
    rooms, and a phone booth we have no room for."""
    floors = _floor_levels()
    paths = [(ROOT,), (ROOT, CAMPUS), _outer_levels(),
             *((*_outer_levels(), floor) for floor in floors.values()),
             *((*_outer_levels(), floors[room.level], _zone(room.location_id, room.name)) for room in ROOMS),
             (*_outer_levels(), floors[BOOTH[2]], _zone(BOOTH[0], BOOTH[1]))]
    stamp = _ms(at)
    return [DemoEvent("locationHierarchyChange", fp.location_hierarchy_change("ADD", fp.location_path(*path), DETAILS),
                      stamp, _uid("hierarchy", path[-1].location_id, stamp)) for path in paths]


def webex_device(room: DemoRoom) -> dict[str, Any]:
    serial = f"FOC{_roll('serial', room.name) % 10**8:08d}"
    mac = _roll("mac", room.name).to_bytes(4, "big").hex(":")
    return fp.device_info(f"sandbox-device-{room.name.lower()}", mac_address=f"5a:9d:{mac}",
                          product="Cisco Room Kit Pro" if room.capacity > 10 else "Cisco Room Kit",
                          display_name=f"{room.name} Room Kit", serial_number=serial,
                          workspace_id=room.webex_workspace_id, org_id=_webex_id("ORGANIZATION", "sandbox-demo-co"))


def _webex_id(kind: str, name: str) -> str:
    """A Webex id: the base64 of a ``ciscospark://`` URN, without padding (as the workspace id in config)."""
    urn = f"ciscospark://urn:TEAM:eu-central-1_k/{kind}/{uuid.uuid5(_UID_NAMESPACE, name)}"
    return b64encode(urn.encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------------------
# Time and determinism
# --------------------------------------------------------------------------------------------------------


def local_time(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZONE)


def local_days(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(ZONE).date(), end.astimezone(ZONE).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_start(now: datetime) -> datetime:
    """Local midnight of ``now``'s day in the demo time zone."""
    return datetime.combine(now.astimezone(ZONE).date(), time(), tzinfo=ZONE)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _ceil_ms(moment: datetime) -> int:
    """The first millisecond at or after ``moment`` (a moment between two would otherwise be missed)."""
    return -((_EPOCH - moment) // timedelta(milliseconds=1))


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _roll(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, "|".join(map(str, parts))))


# --------------------------------------------------------------------------------------------------------
# The thread that feeds the fake Firehose
# --------------------------------------------------------------------------------------------------------


class OccupancyFeed:
    """Publishes the simulation into a :class:`FakeFirehose` and scripts its nightly outages: at start what
    Cisco would still replay (the last ``replay_window_s``) and the location hierarchy, then every
    ``interval_s`` what happened since."""

    def __init__(self, firehose: FakeFirehose, bookings: Callable[[], list[Booking]], *, interval_s: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), outage: Outage = NIGHTLY):
        self.firehose = firehose
        self.bookings = bookings
        self.interval_s = interval_s
        self.clock = clock
        self.outage = NIGHTLY_OUTAGE if isinstance(outage, _Nightly) else outage
        self.published = 0
        #: How often :meth:`publish_due` ran (the feed is alive even when nothing changed).
        self.rounds = 0
        self._last: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backfill(self) -> int:
        """The last replay window, then the hierarchy (stamped now: this is when the feed starts); returns how many
        events that was."""
        now = self.clock()
        since = now - timedelta(seconds=self.firehose.replay_window_s)
        self._schedule_outages(now)
        events = [*simulate(self.bookings(), since, now, outage=self.outage), *hierarchy_events(now)]
        self._last = now
        return self._publish(events)

    def publish_due(self) -> int:
        """What happened since the last call; returns how many events that was."""
        now = self.clock()
        since = max(self._last or now, now - MAX_CATCH_UP)
        self._schedule_outages(now)
        events = simulate(self.bookings(), since, now, outage=self.outage)
        self._last = now
        self.rounds += 1
        return self._publish(events)

    def _schedule_outages(self, now: datetime) -> None:
        """Tonight's and tomorrow night's outages, on the fake's own clock (the same wall clock in a sandbox)."""
        for start_ms, end_ms in outage_windows(now, now + timedelta(days=1), self.outage):
            if end_ms > _ms(now):
                self.firehose.outage_between(start_ms, end_ms)

    def start(self) -> OccupancyFeed:
        self._thread = threading.Thread(target=self._run, name="sandbox-occupancy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.publish_due()
            except Exception:  # a bug in the simulation must show, and the next round should still come
                logger.exception("sandbox: the occupancy simulation failed")

    def _publish(self, events: list[DemoEvent]) -> int:
        for event in events:
            envelope = self.firehose.event(event.kind, event.payload, timestamp_ms=event.timestamp_ms,
                                           event_type=event.event_type, uid=event.uid)
            self.firehose.publish(envelope)
        self.published += len(events)
        return len(events)
