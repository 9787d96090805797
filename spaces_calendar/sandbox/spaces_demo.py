"""Simulated Cisco Spaces occupancy for the sandbox's demo rooms, following their calendars.

Every tick (10 s by default) each demo room reports how many people are in it: a ``spaceOccupancy`` event, or, for
Delta, whose Webex Room Kit reports to Spaces, a ``webexTelemetryUpdate`` with PEOPLE_COUNT and PRESENCE. Who is in
a room follows the room's meetings in the fake Microsoft 365 (planned in :mod:`microsoft_demo`) as they are at that
moment, so a meeting booked, moved or cancelled on the sandbox page changes the occupancy too:

* people come to most meetings, from two minutes before to four minutes after the start, about as many as were
  invited (now and then one steps out for a minute), and leave up to three minutes before the end;
* **ghost bookings**, every day they are booked: nobody comes to the daily "Team standup" series (Ember, 09:00),
  which therefore turns into a zombie series after three days, nor to "Sprint planning" (Glacier, 14:00);
* **late starts**: "Retrospective" (Ember, 15:30) begins 15 minutes late, "Phone interview" (Cedar, 11:00) 12;
* **early end**: the "Customer call: Nordlys AS" (Fjord, 13:00, 45 min) is over after 20 minutes;
* the all-day "Board offsite preparation" (Aurora) has its people from 09:30 to 11:30 only;
* **unbooked occupancy**, every day: Harbour 11:15-11:35 (2 people), Cedar 13:30-14:00 (1), Birch 16:00-16:40 (3);
* empty otherwise.

Besides: ``deviceCounts`` (Wi-Fi clients, about 1.5 per person) for every room every 5 minutes, ``cameraCounts``
for Fjord (it has a camera) every minute, an event type we do not read once an hour, and one
``locationHierarchyChange`` describing the building at the start of the day's replay.

The payloads are the shapes :mod:`firehose.events` reads. Everything is a pure function of the bookings and the
clock, ``recordUid`` included: a restarted sandbox replays the day as the very same events, and the receiver drops
the ones it already applied. :class:`OccupancyFeed` is the thin thread that publishes them into the fake Firehose.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from spaces_calendar.partner.firehose_fake import FakeFirehose
from spaces_calendar.providers.microsoft.fake import FakeMicrosoft
from spaces_calendar.providers.microsoft.timezones import from_graph
from spaces_calendar.sandbox import config
from spaces_calendar.sandbox.microsoft_demo import BUILDING, room_email
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
CAMERA_ROOMS = {"Fjord"}
#: A Webex device's presence turns No about two minutes after the last person left.
PRESENCE_LAG = timedelta(minutes=2)
#: The day's replay uses coarser ticks than the live feed: a day at 10 s would be ~80,000 events.
BACKFILL_STEP_S = 60.0
#: A feed that fell behind (a suspended laptop) catches up at most this far.
MAX_CATCH_UP = timedelta(hours=6)
UNKNOWN_KIND, UNKNOWN_TYPE = "bleRssiUpdate", "BLE_RSSI_UPDATE"
_UID_NAMESPACE = uuid.UUID("5a9dbe0c-5ace-4d3a-9c0f-5a2db0c0ffee")


@dataclass(frozen=True)
class DemoRoom:
    name: str
    capacity: int
    floor: str
    level: int
    location_id: str
    webex_workspace_id: str = ""
    camera: bool = False


ROOMS = tuple(
    DemoRoom(name, capacity, floor, level, config.spaces_location_id(name),
             config.WEBEX_WORKSPACE_ID if name == config.WEBEX_ROOM else "", name in CAMERA_ROOMS)
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
                                    bool(event.get("isAllDay"))))
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


def _webex_presence(visits: Iterable[Visit], room: DemoRoom, at: datetime) -> bool:
    return any(visit.room == room.name and visit.arrive <= at < visit.leave + PRESENCE_LAG for visit in visits)


# --------------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------------


def simulate(bookings: Iterable[Booking], start: datetime, end: datetime, *, step_s: float) -> list[DemoEvent]:
    """The events of every tick in (start, end], oldest first; ticks are multiples of ``step_s`` since the epoch."""
    visits = plan_visits(bookings, local_days(start - timedelta(seconds=step_s), end))
    step_ms = int(step_s * 1000)
    events: list[DemoEvent] = []
    for tick in ticks(start, end, step_s):
        events.extend(_occupancy(room, visits, tick, step_ms) for room in ROOMS)
        if _crosses(tick, step_ms, 300):
            events.extend(_device_counts(room, visits, tick) for room in ROOMS)
        if _crosses(tick, step_ms, 60):
            events.extend(_camera_counts(room, visits, tick) for room in ROOMS if room.camera)
        if _crosses(tick, step_ms, 3600, offset_s=1800):
            events.append(_unknown(tick))
    return events


def ticks(start: datetime, end: datetime, step_s: float) -> range:
    step = int(step_s * 1000)
    first = (_ms(start) // step + 1) * step
    return range(first, _ms(end) + 1, step)


def hierarchy_event(at: datetime) -> DemoEvent:
    """The demo building as Spaces describes it: building, floors, the rooms, and a booth we have no room for."""
    building = {"locationId": "sandbox-loc-demo-hq", "name": BUILDING, "type": "BUILDING",
                "timeZone": config.TIME_ZONE}
    floors = {room.level: {"locationId": f"sandbox-loc-floor-{room.level}", "name": room.floor, "type": "FLOOR",
                           "parentLocationId": building["locationId"]} for room in ROOMS}
    rooms = [{"locationId": room.location_id, "name": room.name, "type": "ROOM",
              "parentLocationId": floors[room.level]["locationId"]} for room in ROOMS]
    booth = {"locationId": "sandbox-loc-phone-booth-1", "name": "Phone booth 1", "type": "ROOM",
             "parentLocationId": floors[0]["locationId"]}
    locations = [building, *floors.values(), *rooms, booth]
    payload = {"changes": [{"changeType": "ADDED", "location": location} for location in locations]}
    return DemoEvent("locationHierarchyChange", payload, _ms(at), _uid("hierarchy", _ms(at)))


def _occupancy(room: DemoRoom, visits: list[Visit], tick: int, step_ms: int) -> DemoEvent:
    at, window_start = _at(tick), _at(tick - step_ms)
    if room.webex_workspace_id:
        return _webex(room, visits, tick)
    samples = [people_at(visits, room, moment) for moment in (window_start, _at(tick - step_ms // 2), at)]
    payload = {
        "location": _location(room),
        "occupancy": {"peopleCount": samples[1], "presence": samples[1] > 0, "peakCount": max(samples)},
        "windowStartTime": tick - step_ms,
        "windowEndTime": tick,
    }
    return DemoEvent("spaceOccupancy", payload, tick, _uid("spaceOccupancy", room.location_id, tick))


def _webex(room: DemoRoom, visits: list[Visit], tick: int) -> DemoEvent:
    at = _at(tick)
    count = people_at(visits, room, at)
    present = count > 0 or _webex_presence(visits, room, at)
    payload = {
        "device": {"deviceId": f"sandbox-device-{room.name.lower()}", "workspaceId": room.webex_workspace_id,
                   "name": f"{room.name} Room Kit"},
        "location": _location(room),
        "telemetries": [
            {"type": "PEOPLE_COUNT", "peopleCount": {"peopleCount": count}},
            {"type": "PRESENCE", "presence": {"presenceStatus": "PRESENT" if present else "NOT_PRESENT"}},
        ],
    }
    return DemoEvent("webexTelemetryUpdate", payload, tick, _uid("webexTelemetryUpdate", room.location_id, tick))


def _device_counts(room: DemoRoom, visits: list[Visit], tick: int) -> DemoEvent:
    devices = round(people_at(visits, room, _at(tick)) * 1.5)
    payload = {"location": _location(room), "associatedCount": devices,
               "estimatedProbingCount": devices + _roll(room.name, tick) % 3}
    return DemoEvent("deviceCounts", payload, tick, _uid("deviceCounts", room.location_id, tick))


def _camera_counts(room: DemoRoom, visits: list[Visit], tick: int) -> DemoEvent:
    count = people_at(visits, room, _at(tick))
    payload = {"location": _location(room), "totalCount": count, "counts": [{"type": "PERSON", "count": count}]}
    return DemoEvent("cameraCounts", payload, tick, _uid("cameraCounts", room.location_id, tick))


def _unknown(tick: int) -> DemoEvent:
    """An event type the receiver does not read: it must count and skip it."""
    payload = {"location": _location(ROOMS[0]), "macAddress": "5a:9d:be:0c:00:01", "rssi": -67}
    return DemoEvent(UNKNOWN_KIND, payload, tick, _uid(UNKNOWN_KIND, tick), UNKNOWN_TYPE)


def _location(room: DemoRoom) -> dict[str, Any]:
    return {"locationId": room.location_id, "name": room.name, "inferredLocationTypes": ["ROOM"]}


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


def _crosses(tick: int, step_ms: int, period_s: int, offset_s: int = 0) -> bool:
    """Whether a period boundary lies in (tick - step, tick]: right for any step, so no period is skipped."""
    period, offset = period_s * 1000, offset_s * 1000
    return (tick - offset) // period != (tick - step_ms - offset) // period


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _roll(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, "|".join(map(str, parts))))


# --------------------------------------------------------------------------------------------------------
# The thread that feeds the fake Firehose
# --------------------------------------------------------------------------------------------------------


class OccupancyFeed:
    """Publishes the simulation into a :class:`FakeFirehose`: the day so far at once, then every ``interval_s``."""

    def __init__(self, firehose: FakeFirehose, bookings: Callable[[], list[Booking]], *, interval_s: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.firehose = firehose
        self.bookings = bookings
        self.interval_s = interval_s
        self.clock = clock
        self.published = 0
        self._last: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backfill(self) -> int:
        """The day so far (from local midnight), with the building's hierarchy first; returns the events."""
        now = self.clock()
        since = day_start(now)
        events = [hierarchy_event(since),
                  *simulate(self.bookings(), since, now, step_s=max(self.interval_s, BACKFILL_STEP_S))]
        self._last = now
        return self._publish(events)

    def publish_due(self) -> int:
        """The ticks since the last call; returns how many events that was."""
        now = self.clock()
        since = max(self._last or now, now - MAX_CATCH_UP)
        events = simulate(self.bookings(), since, now, step_s=self.interval_s)
        self._last = now
        return self._publish(events)

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
            except Exception:  # a bug in the simulation must show, and the next tick should still come
                logger.exception("sandbox: the occupancy simulation failed")

    def _publish(self, events: list[DemoEvent]) -> int:
        for event in events:
            envelope = self.firehose.event(event.kind, event.payload, timestamp_ms=event.timestamp_ms,
                                           event_type=event.event_type, uid=event.uid)
            self.firehose.publish(envelope)
        self.published += len(events)
        return len(events)
