"""Ground truth for ghost bookings: a seeded world of rooms, bookings, people and the Firehose lines the rooms'
sensors send, with the true outcome of every booking worked out from the rules and the protocol facts of
DESIGN.md sections 6 and 7, never from what our code does.

Pure: ``generate(seed, now)`` uses only ``random.Random(seed)`` and times relative to ``now``; nothing touches
Django, the network or the clock.

The protocol, as the lines here follow it (DESIGN.md section 6)
----------------------------------------------------------------
* Every line is one JSON object (NDJSON) with the envelope ``recordUid``, ``recordTimestamp`` (ms),
  ``spacesTenantId``, ``spacesTenantName``, ``partnerTenantId``, ``eventType`` and **one** payload named by the
  eventType (``CAMERA_COUNT → cameraCounts``, ``WEBEX_TELEMETRY → webexTelemetryUpdate``, ``LOCATION_CHANGE →
  locationHierarchyChange``, ``DEVICE_COUNT → deviceCounts``). ``KEEP_ALIVE`` lines have no payload and may have
  empty tenant fields.
* ``location`` is recursive and innermost first: ``{locationId, name, inferredLocationTypes, sourceLocationId,
  floorNumber, parent: {...}}``; rooms are ZONEs, under a FLOOR, a BUILDING, a CAMPUS and the ROOT.
* ``cameraCounts`` is ``{location, count, countDelta}``, sent only when the count changes.
* ``webexTelemetryUpdate`` is ``{deviceInfo {deviceId, macAddress, product, displayName, serialNumber, workspaceId,
  orgId}, location, telemetries: [...]}``, each element of ``telemetries`` carrying one bare metric such as
  ``{"presence": true}`` or ``{"peopleCount": 3}``. A device says presence / peopleCount when they change, and
  a full report of all its metrics about every hour (with a few minutes of jitter). Presence turns false about two
  minutes after the last person left (detector lag); peopleCount drops at once. ``presence: null`` and
  ``peopleCount: -1`` mean the device does not know.
* ``locationHierarchyChange`` ``{changeType: ADD, location, locationDetails {timeZone, city, country, ...}}`` for
  every location, before the sensors speak.
* ``deviceCounts`` (Wi-Fi devices, not people) and an event type nobody reads are in the stream too.
* Delivery: not in order (lines arrive up to a few minutes late), some lines twice, KEEP_ALIVE lines, one line
  that is not JSON. Replay reaches back about an hour, so an outage of our stream longer than that loses lines for
  good: the scenario has one (no lines at all in it) that the test records as the receiver would.

The rules (DESIGN.md section 7), as the truth here applies them
----------------------------------------------------------------
* Grace window: 10 minutes from the start of the booking.
* A room is **occupied** when any live source says so (camera ``count`` > 0; Webex ``presence`` true or
  ``peopleCount`` > 0), **empty** when its live sources are idle, **unknown** when none is live. A reading holds
  until the same source says otherwise, as long as the source and our stream are alive: silence from a change-only
  source is not unknown. Unknown is: a Webex device reporting ``presence`` null / ``peopleCount`` −1; a Webex device
  silent for longer than its full-report interval; our stream down beyond replay (and after it, each source until it
  reports again: what changed while we were deaf is lost); no sensor mapped to the room. Unknown is never empty.
* **ghost**: known empty from the start through the grace window, and nobody comes at all.
* **late_start**: the grace window known empty, the first presence after it.
* **early_end**: people came within the grace window, but the room was known empty for the last stretch of the
  booking, at least 15 minutes and at least a quarter of it.
* **attended**: otherwise (people came in time and stayed; a break in the middle is still attended).
* **unknown**: data missing over the grace window (a −1/null period, a dead source, our outage, no mapped sensor).
* **No outcome at all**: cancelled bookings, all-day bookings, bookings of 8 hours or more.

Only unambiguous cases
----------------------
People arrive at least 5 minutes away from the grace edge; early ends leave at least 25 minutes and 40 % of the
booking before its end; attended meetings stay to within 5 minutes of the end; a room's bookings never overlap and
are at least 20 minutes apart. The truth is then computed from the readings the sensors actually send (after the
outage took its share) under every defensible reading of the rules at once: presence lag corrected or not, a
Webex device dead after 70 or after 150 minutes of silence (its reports come every 60 ± 3 minutes), a room with one
unknown and one idle source empty or unknown, and after the outage the last reading carried on or unknown until
the source speaks. A booking whose outcome is not the same under all of them, or that sits within a few minutes of
a threshold, or whose data is only partly missing, is not booked at all (its people still come: unbooked use).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
GRACE = timedelta(minutes=10)
EXEMPT_AFTER = timedelta(hours=8)
EARLY_END_AT_LEAST = timedelta(minutes=15)
EARLY_END_FRACTION = 0.25
PRESENCE_LAG = timedelta(minutes=2)
FULL_REPORT_EVERY = timedelta(hours=1)
FULL_REPORT_JITTER_S = 180
REPLAY = timedelta(hours=1)
OUTAGE_LENGTH = timedelta(hours=2, minutes=40)
DEAD_LENGTH = timedelta(hours=7)
#: Margins that keep every case away from the thresholds.
EDGE = timedelta(minutes=4)
AROUND = timedelta(minutes=3)

OUTCOMES = ("attended", "ghost", "late_start", "early_end", "unknown")
TRAPS = ("cancelled", "cancelled_later", "all_day", "long")
OCC, EMPTY, UNK = "occupied", "empty", "unknown"
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)

#: eventType -> the name of its payload (DESIGN.md section 6).
PAYLOAD_OF = {
    "CAMERA_COUNT": "cameraCounts",
    "WEBEX_TELEMETRY": "webexTelemetryUpdate",
    "LOCATION_CHANGE": "locationHierarchyChange",
    "DEVICE_COUNT": "deviceCounts",
    "BLE_RSSI_UPDATE": "bleRssiUpdate",  # an event type we do not know (yet)
}
ENVELOPE = ("recordUid", "recordTimestamp", "spacesTenantId", "spacesTenantName", "partnerTenantId", "eventType")


@dataclass(frozen=True)
class Site:
    name: str
    zone: str
    windows_zone: str
    city: str
    country: str
    latitude: float
    longitude: float


SITES = (
    Site("Oslo Fjordhuset", "Europe/Oslo", "W. Europe Standard Time", "Oslo", "Norway", 59.91, 10.75),
    Site("New York Hudson Yards", "America/New_York", "Eastern Standard Time", "New York", "United States",
         40.75, -74.0),
    Site("Bengaluru Manyata", "Asia/Kolkata", "India Standard Time", "Bengaluru", "India", 13.04, 77.62),
    Site("Sydney Barangaroo", "Australia/Sydney", "AUS Eastern Standard Time", "Sydney", "Australia",
         -33.86, 151.2),
)
ROOM_NAMES = (
    "Nordlys", "Fjell", "Bryggen", "Tundra", "Skagen", "Polar",
    "Hudson", "Chelsea", "Tribeca", "Harlem", "Astoria", "Battery",
    "Lalbagh", "Cubbon", "Nandi", "Kaveri", "Hampi", "Mysore",
    "Bondi", "Manly", "Coogee", "Tamarama", "Bronte", "Balmoral",
)
DURATIONS = (30, 30, 45, 45, 60, 60, 60, 90, 120)
GAPS = (20, 30, 30, 45, 60, 60, 90, 120)
SUBJECTS = ("Weekly sync", "Design review", "1:1", "Sprint planning", "Customer call", "Interview", "Retro",
            "Budget review", "All hands prep", "Architecture forum", "Vendor demo", "Standup")


# --------------------------------------------------------------------------------------------------------
# What the scenario is made of
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebexDevice:
    device_id: str
    mac: str
    serial: str
    workspace_id: str
    display_name: str
    org_id: str
    phase_s: int


@dataclass
class RoomSpec:
    key: str
    name: str
    email: str
    site: Site
    floor_name: str
    floor_number: int
    floor_location_id: str
    building_location_id: str
    campus_location_id: str
    capacity: int
    #: "" for the room no sensor is mapped to.
    location_id: str
    camera: bool
    webex: WebexDevice | None
    roles: set[str] = field(default_factory=set)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.zone)

    @property
    def sources(self) -> list[str]:
        return (["camera"] if self.camera else []) + (["webex"] if self.webex else [])


@dataclass
class BookingSpec:
    key: str
    room: RoomSpec
    subject: str
    start: datetime
    end: datetime
    #: What the people do: attended, ghost, late_start, early_end (before any data goes missing).
    intended: str
    people: list[tuple[datetime, datetime]]
    #: The true outcome (one of OUTCOMES); None for traps, which must get no outcome at all.
    truth: str | None = None
    trap: str | None = None
    unknown_cause: str | None = None
    all_day_date: date | None = None
    private: bool = False
    attendees: int = 1
    #: The zone the event's times are written in by Graph (a Windows name) and its IANA twin.
    graph_zone: str = ""
    graph_iana: str = ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def graph_event(self) -> dict[str, Any]:
        """Arguments for ``FakeMicrosoft.add_event``: naive local times in a Windows zone, as Graph sends them."""
        fields: dict[str, Any] = {
            "attendees": [{"emailAddress": {"address": f"person{n}@groundtruth.example.com", "name": f"P{n}"},
                           "type": "required"} for n in range(self.attendees)],
        }
        if self.private:
            fields["sensitivity"] = "private"
        if self.trap == "cancelled":
            fields["isCancelled"] = True
            fields["subject"] = f"Canceled: {self.subject}"
        if self.all_day_date is not None:
            fields["isAllDay"] = True
            fields["showAs"] = "free"
            start = datetime.combine(self.all_day_date, time(0))
            end = start + timedelta(days=1)
        else:
            zone = ZoneInfo(self.graph_iana)
            start = self.start.astimezone(zone).replace(tzinfo=None)
            end = self.end.astimezone(zone).replace(tzinfo=None)
        return {"room": self.room.email, "subject": fields.pop("subject", self.subject),
                "start": start.strftime("%Y-%m-%dT%H:%M:%S"), "end": end.strftime("%Y-%m-%dT%H:%M:%S"),
                "time_zone": self.graph_zone, "fields": fields}


@dataclass(frozen=True)
class Reading:
    """One thing a sensor said, as structured data (the lines are made from these)."""

    at: datetime
    room_key: str
    source: str  # "camera" | "webex"
    metrics: tuple[tuple[str, Any], ...]
    full_report: bool = False


@dataclass(frozen=True)
class Line:
    timestamp_ms: int
    delivered_ms: int
    partition: int
    raw: bytes
    #: event | duplicate | keepalive | malformed
    kind: str
    uid: str
    event_type: str = ""


@dataclass(frozen=True)
class Interpretation:
    lag_corrected: bool
    dead_after: timedelta
    #: "all": empty only when every source is known idle; "live": empty when the live sources are idle.
    fusion: str
    #: "unknown": after our outage a source is unknown until it speaks; "carry": its last reading carries on.
    after_outage: str


INTERPRETATIONS = tuple(
    Interpretation(lag, dead, fusion, after)
    for lag, dead, fusion, after in product((False, True), (timedelta(minutes=70), timedelta(minutes=150)),
                                             ("all", "live"), ("unknown", "carry"))
)


@dataclass
class Scenario:
    seed: int
    now: datetime
    spaces_tenant_id: str
    spaces_tenant_name: str
    partner_tenant_id: str
    #: First line of the stream (location ADDs) and first sensor reading.
    stream_start: datetime
    history_start: datetime
    book_from: datetime
    book_until: datetime
    #: When the bookings were synced (they were in the future then) and how many days ahead a sync reaches.
    sync_at: datetime
    sync_days_ahead: int
    outage: tuple[datetime, datetime]
    rooms: list[RoomSpec]
    bookings: list[BookingSpec]
    readings: list[Reading]
    lost_readings: int
    lines: list[Line]
    dead: dict[str, tuple[datetime, datetime]]
    unknown_periods: dict[str, list[tuple[datetime, datetime]]]
    #: Candidate bookings left out, by reason ("ambiguous", "mismatch:<intended>-><truth>").
    dropped: Counter
    root_location_id: str = ""

    @property
    def judged(self) -> list[BookingSpec]:
        return [b for b in self.bookings if b.trap is None]

    @property
    def traps(self) -> list[BookingSpec]:
        return [b for b in self.bookings if b.trap is not None]

    def truth_counts(self) -> Counter:
        return Counter(b.truth for b in self.judged)

    def line_counts(self) -> Counter:
        return Counter(line.kind for line in self.lines)

    @property
    def event_lines(self) -> int:
        """Lines a receiver applies (or counts as duplicates): everything but keep-alives and the bad line."""
        return sum(1 for line in self.lines if line.kind in ("event", "duplicate"))

    def room(self, key: str) -> RoomSpec:
        return next(room for room in self.rooms if room.key == key)

    def summary(self) -> str:
        causes = Counter(b.unknown_cause for b in self.judged if b.truth == "unknown")
        return (f"seed {self.seed}: {len(self.rooms)} rooms, {len(self.judged)} judged bookings "
                f"{dict(sorted(self.truth_counts().items()))}, unknown because {dict(sorted(causes.items()))}, "
                f"traps {dict(sorted(Counter(b.trap for b in self.traps).items()))}, "
                f"lines {dict(sorted(self.line_counts().items()))}, {self.lost_readings} readings lost in the "
                f"outage {self.outage[0]:%Y-%m-%d %H:%M}-{self.outage[1]:%H:%M}Z, dropped {dict(self.dropped)}")


# --------------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------------


def generate(seed: int, now: datetime, *, spaces_tenant_id: str = "spaces-tenant-0001",
             spaces_tenant_name: str = "Ground Truth Co", partner_tenant_id: str = "partner-tenant-0001"
             ) -> Scenario:
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)
    gen = _Generator(rng, now)
    return gen.run(seed, spaces_tenant_id, spaces_tenant_name, partner_tenant_id)


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def partition_of(key: str) -> int:
    """Spaces keeps one location's events in one partition (1-12)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 12 + 1


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class _Generator:
    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.now = now
        self.stream_start = now - timedelta(hours=55, minutes=10)
        self.history_start = now - timedelta(hours=55)
        self.book_from = now - timedelta(hours=52)
        self.book_until = now - timedelta(minutes=75)
        self.sync_at = now - timedelta(days=4)
        self.sync_days_ahead = 4
        self.seq = 0
        self.long_traps = 0

    # -- the whole thing --------------------------------------------------------------------------------

    def run(self, seed: int, spaces_tenant_id: str, spaces_tenant_name: str, partner_tenant_id: str) -> Scenario:
        rng = self.rng
        self.root_location_id = f"location-{_hex(rng, 8)}"
        rooms = self.rooms()
        candidates = self.schedule(rooms)
        self.outage = self.pick_outage(candidates)
        people = self.people(rooms, candidates)
        dead = self.pick_dead(rooms, candidates)
        unknown_periods = self.pick_unknown_periods(rooms, candidates, dead)
        readings = self.readings(rooms, people, dead, unknown_periods)
        delivered = [r for r in readings if not self.outage[0] <= r.at < self.outage[1]]
        bookings, dropped = self.judge(rooms, candidates, delivered, dead, unknown_periods)
        lines = self.lines(rooms, delivered, spaces_tenant_id, spaces_tenant_name, partner_tenant_id)
        return Scenario(
            seed=seed, now=self.now, spaces_tenant_id=spaces_tenant_id, spaces_tenant_name=spaces_tenant_name,
            partner_tenant_id=partner_tenant_id, stream_start=self.stream_start, history_start=self.history_start,
            book_from=self.book_from, book_until=self.book_until, sync_at=self.sync_at,
            sync_days_ahead=self.sync_days_ahead, outage=self.outage, rooms=rooms, bookings=bookings,
            readings=delivered, lost_readings=len(readings) - len(delivered), lines=lines, dead=dead,
            unknown_periods=unknown_periods, dropped=dropped, root_location_id=self.root_location_id,
        )

    # -- rooms ------------------------------------------------------------------------------------------

    def rooms(self) -> list[RoomSpec]:
        rng = self.rng
        kinds = ["none"] + ["camera"] * 8 + ["webex"] * 8 + ["both"] * 7
        rng.shuffle(kinds)
        org = f"org-{_uid(rng)}"
        rooms = []
        for index, name in enumerate(ROOM_NAMES):
            site = SITES[index // 6]
            floor_number = 1 + (index % 6) // 3 * 2  # floors 1 and 3
            kind = kinds[index]
            webex = None
            if kind in ("webex", "both"):
                webex = WebexDevice(
                    device_id=f"device-{_uid(rng)}", mac=":".join(_hex(rng, 2) for _ in range(6)),
                    serial=f"FOC{rng.randrange(10**7, 10**8)}", workspace_id=f"workspace-{_uid(rng)}",
                    display_name=f"{name} Room Bar", org_id=org, phase_s=rng.randrange(300, 3300),
                )
            rooms.append(RoomSpec(
                key=f"r{index:02d}", name=f"{site.city} {name}", email=f"{name.lower()}@groundtruth.example.com",
                site=site, floor_name=str(floor_number), floor_number=floor_number,
                floor_location_id=f"location-{_hex(rng, 8)}", building_location_id=f"location-{_hex(rng, 8)}",
                campus_location_id=f"location-{_hex(rng, 8)}", capacity=rng.choice((4, 6, 8, 10, 12, 16)),
                location_id="" if kind == "none" else f"location-{_hex(rng, 8)}",
                camera=kind in ("camera", "both"), webex=webex,
            ))
        # Floors and buildings are shared: give rooms of one floor / building the same location ids.
        by_site: dict[str, RoomSpec] = {}
        by_floor: dict[tuple[str, int], RoomSpec] = {}
        for room in rooms:
            first_site = by_site.setdefault(room.site.name, room)
            first_floor = by_floor.setdefault((room.site.name, room.floor_number), room)
            room.building_location_id = first_site.building_location_id
            room.campus_location_id = first_site.campus_location_id
            room.floor_location_id = first_floor.floor_location_id
        webex_only = [r for r in rooms if r.webex and not r.camera]
        both = [r for r in rooms if r.webex and r.camera]
        webex_only[0].roles.add("webex_unknown")
        webex_only[1].roles.add("webex_unknown")
        webex_only[2].roles.add("dead_device")
        webex_only[3].roles.add("dead_device")
        both[0].roles.add("webex_unknown_partial")
        plain = [r for r in rooms if r.location_id and not r.roles]
        rng.shuffle(plain)
        for room in plain[:3]:
            room.roles.add("all_day")
        for room in plain[3:6]:
            room.roles.add("long")
        for room in plain[6:12]:
            room.roles.add("cancelled")
        located = [r for r in rooms if r.camera]
        rng.shuffle(located)
        for room in located[:6]:
            room.roles.add("device_counts")
        return rooms

    # -- time ---------------------------------------------------------------------------------------------

    def pick_outage(self, bookings: list[BookingSpec]) -> tuple[datetime, datetime]:
        """On the second day, where it swallows the most grace windows (so that some bookings are lost to it)."""
        options = []
        start = self.book_from + timedelta(hours=20)
        while start + OUTAGE_LENGTH < self.book_until - timedelta(hours=3):
            end = start + OUTAGE_LENGTH
            covered = sum(1 for b in bookings if b.trap is None and start + AROUND < b.start
                          and b.start + GRACE + AROUND < end)
            options.append((covered, start))
            start += timedelta(minutes=15)
        options.sort(key=lambda option: -option[0])
        start = self.rng.choice(options[:4])[1] + SECOND * self.rng.randint(0, 300)
        return start, start + OUTAGE_LENGTH

    @staticmethod
    def local(room: RoomSpec, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=room.zone).astimezone(UTC)

    def local_days(self, room: RoomSpec) -> list[date]:
        first = (self.history_start - timedelta(days=1)).astimezone(room.zone).date()
        last = self.now.astimezone(room.zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def full_days(self, room: RoomSpec) -> list[date]:
        """Local dates wholly inside the booking range."""
        return [day for day in self.local_days(room)
                if self.local(room, day, 0) >= self.book_from
                and self.local(room, day + timedelta(days=1), 0) <= self.book_until]

    # -- bookings -------------------------------------------------------------------------------------------

    def schedule(self, rooms: list[RoomSpec]) -> list[BookingSpec]:
        rng = self.rng
        out: list[BookingSpec] = []
        for room in rooms:
            trap_day = None
            if "all_day" in room.roles or "long" in room.roles:
                trap_day = rng.choice(self.full_days(room) or self.local_days(room)[1:2])
                if "all_day" in room.roles:
                    start = self.local(room, trap_day, 0)
                    end = self.local(room, trap_day + timedelta(days=1), 0)
                    out.append(self.booking(room, start, end, rng.choice(("ghost", "attended")), trap="all_day",
                                            subject="Offsite (room blocked)", all_day_date=trap_day))
                else:
                    # Exactly 8 hours is exempt too ("8 h or more").
                    hours = [(8, 30, 8 * 60), (8, 0, 9 * 60), (9, 0, 8 * 60 + 30)][self.long_traps % 3]
                    self.long_traps += 1
                    start = self.local(room, trap_day, hours[0], hours[1])
                    out.append(self.booking(room, start, start + timedelta(minutes=hours[2]),
                                            rng.choice(("ghost", "early_end")), trap="long", subject="Training day"))
            for day in self.local_days(room):
                if day == trap_day:
                    continue
                t = self.local(room, day, 8) + timedelta(minutes=rng.randrange(0, 61, 5))
                day_end = self.local(room, day, 18, 30)
                while True:
                    duration = timedelta(minutes=rng.choice(DURATIONS))
                    if t + duration > day_end:
                        break
                    if t >= self.book_from and t + duration <= self.book_until:
                        out.append(self.booking(room, t, t + duration, self.behaviour(duration)))
                    t += duration + timedelta(minutes=rng.choice(GAPS))
        # Cancelled meetings: some in Graph as isCancelled, some deleted after the first sync.
        for room in rooms:
            if "cancelled" not in room.roles:
                continue
            regular = [b for b in out if b.room is room and b.trap is None]
            choice = rng.choice(regular)
            choice.trap = "cancelled" if len([b for b in out if b.trap == "cancelled"]) < 3 else "cancelled_later"
            choice.intended = "ghost" if rng.random() < 0.7 else "attended"
        return out

    def behaviour(self, duration: timedelta) -> str:
        r = self.rng.random()
        if r < 0.27:
            return "ghost"
        if r < 0.42 and duration >= timedelta(minutes=45):
            return "late_start"
        if r < 0.58 and duration >= timedelta(minutes=45):
            return "early_end"
        return "attended"

    def booking(self, room: RoomSpec, start: datetime, end: datetime, intended: str, *, trap: str | None = None,
                subject: str | None = None, all_day_date: date | None = None) -> BookingSpec:
        rng = self.rng
        self.seq += 1
        graph_site = room.site if rng.random() < 0.85 else rng.choice(SITES)  # an organiser elsewhere
        return BookingSpec(
            key=f"b{self.seq:03d}", room=room, subject=subject or rng.choice(SUBJECTS), start=start, end=end,
            intended=intended, people=[], trap=trap, all_day_date=all_day_date, private=rng.random() < 0.1,
            attendees=rng.randint(1, 6), graph_zone=(room.site if all_day_date else graph_site).windows_zone,
            graph_iana=(room.site if all_day_date else graph_site).zone,
        )

    # -- people ---------------------------------------------------------------------------------------------

    def people(self, rooms: list[RoomSpec], bookings: list[BookingSpec]) -> dict[str, list[tuple[datetime, datetime]]]:
        """Everyone who is in each room, and when: the bookings' people, drop-ins between bookings, cleaners."""
        rng = self.rng
        by_room: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for room in rooms:
            mine = sorted((b for b in bookings if b.room is room), key=lambda b: b.start)
            for booking in mine:
                partial = "webex_unknown_partial" in room.roles and booking.intended == "attended"
                booking.people = self.meeting(booking, early=partial)
                by_room[room.key] += booking.people
            for before, after in zip(mine, mine[1:], strict=False):
                gap = after.start - before.end
                if gap >= timedelta(minutes=60) and rng.random() < 0.3:
                    enter = before.end + timedelta(minutes=15) + SECOND * rng.randrange(0, int(
                        (gap - timedelta(minutes=50)).total_seconds()) + 1)
                    by_room[room.key].append((enter, enter + timedelta(minutes=rng.randint(4, 12))))
            # The cleaner, first thing in the history and every early morning.
            first = self.history_start + timedelta(minutes=rng.randint(10, 50))
            by_room[room.key].append((first, first + timedelta(minutes=rng.randint(3, 8))))
            for day in self.local_days(room):
                visit = self.local(room, day, 6) + timedelta(minutes=rng.randint(0, 50))
                if self.history_start + timedelta(hours=1) < visit < self.now - timedelta(minutes=10):
                    by_room[room.key].append((visit, visit + timedelta(minutes=rng.randint(3, 8))))
        return by_room

    def meeting(self, booking: BookingSpec, *, early: bool = False) -> list[tuple[datetime, datetime]]:
        rng = self.rng
        s, e, duration = booking.start, booking.end, booking.duration
        behaviour = booking.intended
        if behaviour == "ghost":
            return []
        if booking.all_day_date is not None:  # somebody uses the blocked room for a while
            zone = booking.room.zone
            return [(datetime.combine(booking.all_day_date, time(10), tzinfo=zone).astimezone(UTC),
                     datetime.combine(booking.all_day_date, time(15), tzinfo=zone).astimezone(UTC))]
        count = rng.randint(1, min(6, booking.room.capacity))

        def at(base: datetime, low_min: float, high_min: float) -> datetime:
            return base + SECOND * rng.randint(int(low_min * 60), int(high_min * 60))

        long = booking.trap == "long"
        if behaviour == "late_start":
            arrive = at(s, 15, min(30, duration.total_seconds() / 60 - 20))
        elif early:
            arrive = at(s, -5, -3)
        else:
            arrive = at(s, -5, 4)
        if behaviour == "early_end":
            latest = e - max(timedelta(minutes=25), duration * 0.4)
            leave = at(arrive, 10, max(10, (latest - arrive).total_seconds() / 60))
            if long:
                leave = at(arrive, 60, 150)
        else:
            leave = at(e, -5, 2)
        people = []
        for n in range(count):
            enter = arrive if n == 0 else at(arrive, 0, 3)
            exit_ = leave if n == 0 else leave - SECOND * rng.randint(0, 180)
            people.append((enter, max(exit_, enter + timedelta(minutes=5))))
        if (behaviour == "attended" and not early and duration >= timedelta(minutes=60) and rng.random() < 0.3):
            # Everyone steps out for a break in the middle and comes back.
            out_at = at(s, 20, duration.total_seconds() / 60 - 30)
            back_at = out_at + timedelta(minutes=rng.randint(5, 10))
            split = []
            for enter, exit_ in people:
                split += [(enter, out_at), (back_at, exit_)]
            people = split
        return people

    # -- faults ---------------------------------------------------------------------------------------------

    def pick_dead(self, rooms: list[RoomSpec], bookings: list[BookingSpec]) -> dict[str, tuple[datetime, datetime]]:
        dead = {}
        for room in rooms:
            if "dead_device" not in room.roles:
                continue
            best, fallback = [], []
            for day in self.local_days(room):
                for minutes in range(5 * 60, 11 * 60 + 1, 30):
                    start = self.local(room, day, 0) + timedelta(minutes=minutes)
                    end = start + DEAD_LENGTH
                    if not (self.history_start + timedelta(hours=2) <= start and end <= self.now - timedelta(hours=1)):
                        continue
                    if end + timedelta(hours=1) < self.outage[0] or start > self.outage[1] + timedelta(hours=2):
                        (best if 6 * 60 <= minutes <= 9 * 60 and start >= self.book_from else fallback).append(
                            (start, end))
            dead[room.key] = self.rng.choice(best or fallback)
        return dead

    def pick_unknown_periods(self, rooms: list[RoomSpec], bookings: list[BookingSpec],
                             dead: dict[str, tuple[datetime, datetime]]) -> dict[str, list[tuple[datetime, datetime]]]:
        """Webex devices reporting presence null / peopleCount -1 for a while, covering some grace windows."""
        rng = self.rng
        periods: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for room in rooms:
            partial = "webex_unknown_partial" in room.roles
            if "webex_unknown" not in room.roles and not partial:
                continue
            mine = sorted((b for b in bookings if b.room is room and b.trap is None), key=lambda b: b.start)
            options = []
            for index, booking in enumerate(mine):
                if self.outage[0] - timedelta(hours=3) < booking.start < self.outage[1] + timedelta(hours=1):
                    continue
                before = mine[index - 1].end if index else booking.start - timedelta(hours=2)
                after = mine[index + 1].start if index + 1 < len(mine) else booking.end + timedelta(hours=2)
                if partial:
                    # Inside a meeting the camera sees: the room stays occupied (any live source says so).
                    first = min(p[0] for p in booking.people) if booking.people else None
                    last = max(p[1] for p in booking.people) if booking.people else None
                    if (booking.intended == "attended" and first is not None and first <= booking.start - MINUTE
                            and last is not None and last >= booking.start + timedelta(minutes=40)
                            and all(p[0] <= booking.start for p in booking.people)
                            and all(p[1] >= booking.start + timedelta(minutes=40) for p in booking.people)):
                        options.append((booking.start + timedelta(seconds=30),
                                        booking.start + timedelta(minutes=rng.randint(20, 30))))
                    continue
                start = max(booking.start - timedelta(minutes=rng.randint(12, 30)), before + timedelta(minutes=6))
                end = min(booking.start + GRACE + timedelta(minutes=rng.randint(8, 20)),
                          after - timedelta(minutes=12))
                if start <= booking.start - timedelta(minutes=4) and end >= booking.start + GRACE + timedelta(
                        minutes=4):
                    options.append((start, end))
            rng.shuffle(options)
            periods[room.key] = sorted(options[:2 if partial else 3])
        return dict(periods)

    # -- what the sensors say -------------------------------------------------------------------------------

    def readings(self, rooms: list[RoomSpec], people: dict[str, list[tuple[datetime, datetime]]],
                 dead: dict[str, tuple[datetime, datetime]],
                 unknown_periods: dict[str, list[tuple[datetime, datetime]]]) -> list[Reading]:
        out: list[Reading] = []
        for room in rooms:
            model = _Occupancy(people.get(room.key, []))
            if room.camera:
                out += self.camera_readings(room, model)
            if room.webex:
                out += self.webex_readings(room, model, dead.get(room.key), unknown_periods.get(room.key, []))
        out.sort(key=lambda r: (r.at, r.room_key, r.source))
        return out

    def camera_readings(self, room: RoomSpec, model: _Occupancy) -> list[Reading]:
        rng = self.rng
        out, last = [], BEGINNING
        for t, count, delta in model.changes:
            at = max(t + SECOND * rng.randint(2, 12), last + SECOND)
            last = at
            out.append(Reading(at, room.key, "camera", (("count", count), ("countDelta", delta))))
        return out

    def webex_readings(self, room: RoomSpec, model: _Occupancy, dead: tuple[datetime, datetime] | None,
                       unknown: list[tuple[datetime, datetime]]) -> list[Reading]:
        rng = self.rng
        device = room.webex
        assert device is not None
        changes: list[tuple[datetime, tuple[tuple[str, Any], ...]]] = []
        last_count = last_presence = BEGINNING
        for t, count, _ in model.changes:
            last_count = max(t + SECOND * rng.randint(2, 12), last_count + SECOND)
            changes.append((last_count, (("peopleCount", count),)))
        for t, value in model.presence_changes:
            delay = rng.randint(1, 8) if value else rng.randint(0, 10)
            last_presence = max(t + SECOND * delay, last_presence + SECOND)
            changes.append((last_presence, (("presence", value),)))
        changes.sort()
        merged: list[tuple[datetime, tuple[tuple[str, Any], ...]]] = []
        for at, metrics in changes:
            if merged and at - merged[-1][0] <= 2 * SECOND and rng.random() < 0.7 and not (
                    {m for m, _ in metrics} & {m for m, _ in merged[-1][1]}):
                merged[-1] = (merged[-1][0], merged[-1][1] + metrics)
            else:
                merged.append((at, metrics))
        # Something else changes now and then while people talk: a bare soundLevel.
        for start, end in model.occupied_intervals():
            t = start + timedelta(minutes=10)
            while t < end - timedelta(minutes=5):
                merged.append((t + SECOND * rng.randint(0, 59), (("soundLevel", rng.randint(45, 68)),)))
                t += timedelta(minutes=15)
        readings = []
        in_unknown = lambda t: any(a <= t < b for a, b in unknown)  # noqa: E731
        is_dead = lambda t: dead is not None and dead[0] <= t < dead[1]  # noqa: E731
        for at, metrics in merged:
            names = {name for name, _ in metrics}
            if is_dead(at) or (in_unknown(at) and names & {"presence", "peopleCount"}):
                continue
            readings.append(Reading(at, room.key, "webex", metrics))
        # The full report, about every hour with jitter.
        k = 0
        while True:
            at = self.history_start + SECOND * device.phase_s + FULL_REPORT_EVERY * k + SECOND * rng.randint(
                -FULL_REPORT_JITTER_S, FULL_REPORT_JITTER_S)
            k += 1
            if at >= self.now - MINUTE:
                break
            if at < self.history_start or is_dead(at):
                continue
            readings.append(self.full_report(room, model, at, unknown=in_unknown(at)))
        for a, b in unknown:
            readings.append(Reading(a, room.key, "webex", (("presence", None), ("peopleCount", -1))))
            readings.append(Reading(b, room.key, "webex", (("presence", model.presence_at(b)),
                                                            ("peopleCount", model.count_at(b)))))
        if dead is not None:
            readings.append(self.full_report(room, model, dead[1]))
        readings.sort(key=lambda r: r.at)
        return readings

    def full_report(self, room: RoomSpec, model: _Occupancy, at: datetime, *, unknown: bool = False) -> Reading:
        rng = self.rng
        presence = None if unknown else model.presence_at(at)
        count = -1 if unknown else model.count_at(at)
        metrics = (("presence", presence), ("peopleCount", count),
                   ("ambientTemp", round(rng.uniform(20.5, 23.5), 1)), ("relativeHumidity", rng.randint(28, 45)),
                   ("soundLevel", rng.randint(30, 60)), ("ambientNoise", rng.randint(22, 35)),
                   ("airQuality", round(rng.uniform(0.5, 2.5), 2)))
        order = list(metrics)
        rng.shuffle(order)
        return Reading(at, room.key, "webex", tuple(order), full_report=True)

    # -- the truth -----------------------------------------------------------------------------------------

    def judge(self, rooms: list[RoomSpec], candidates: list[BookingSpec], readings: list[Reading],
              dead: dict[str, tuple[datetime, datetime]], unknown_periods: dict[str, list[tuple[datetime, datetime]]]
              ) -> tuple[list[BookingSpec], Counter]:
        by_source: dict[tuple[str, str], list[Reading]] = defaultdict(list)
        for reading in readings:
            by_source[(reading.room_key, reading.source)].append(reading)
        timelines: dict[str, list[Timeline]] = {}
        for room in rooms:
            timelines[room.key] = [
                Timeline(fused_timeline([source_timeline(by_source[(room.key, source)], source, interp, self.outage)
                                for source in room.sources], interp.fusion))
                for interp in INTERPRETATIONS
            ]
        kept, dropped = [], Counter()
        for booking in candidates:
            if booking.trap is not None:
                kept.append(booking)
                continue
            labels = {classify(timeline, booking.start, booking.end) for timeline in timelines[booking.room.key]}
            if len(labels) != 1 or None in labels:
                dropped["ambiguous"] += 1
                continue
            (truth,) = labels
            if truth != "unknown" and truth != booking.intended:
                silence = dead.get(booking.room.key)
                if silence and silence[0] - timedelta(hours=2) < booking.start < silence[1]:
                    # A device that just died still holds its last reading (that is the rule) while people come
                    # and go unseen: true by the rules, but not a case worth judging us on.
                    dropped["unseen while a device died"] += 1
                else:
                    dropped[f"mismatch:{booking.intended}->{truth}"] += 1
                continue
            booking.truth = truth
            if truth == "unknown":
                booking.unknown_cause = self.cause(booking, dead, unknown_periods)
            kept.append(booking)
        return kept, dropped

    def cause(self, booking: BookingSpec, dead: dict[str, tuple[datetime, datetime]],
              unknown_periods: dict[str, list[tuple[datetime, datetime]]]) -> str:
        room, s = booking.room, booking.start
        window = (s, s + GRACE)
        overlaps = lambda a, b: a < window[1] and b > window[0]  # noqa: E731
        if not room.sources:
            return "no_sensor"
        if overlaps(*self.outage):
            return "outage"
        if room.key in dead and overlaps(*dead[room.key]):
            return "dead_device"
        if any(overlaps(a, b) for a, b in unknown_periods.get(room.key, [])):
            return "webex_unknown"
        return "after_outage"

    # -- the stream ----------------------------------------------------------------------------------------

    def location(self, room: RoomSpec, level: str, tenant_name: str) -> dict[str, Any]:
        """A location innermost first, from ``level`` (zone, floor, building, campus, root) up."""
        root = {"locationId": self.root_location_id, "name": tenant_name, "inferredLocationTypes": ["ROOT"],
                "sourceLocationId": ""}
        campus = {"locationId": room.campus_location_id, "name": f"{room.site.city} Campus",
                  "inferredLocationTypes": ["CAMPUS"], "sourceLocationId": "", "parent": root}
        building = {"locationId": room.building_location_id, "name": room.site.name,
                    "inferredLocationTypes": ["BUILDING", "NETWORK"], "sourceLocationId": "", "parent": campus}
        floor = {"locationId": room.floor_location_id, "name": f"{room.site.name} Floor {room.floor_number}",
                 "inferredLocationTypes": ["FLOOR"], "sourceLocationId": "", "floorNumber": room.floor_number,
                 "parent": building}
        zone = {"locationId": room.location_id, "name": room.name, "inferredLocationTypes": ["ZONE"],
                "sourceLocationId": f"meraki-zone-{room.location_id[-6:]}", "floorNumber": room.floor_number,
                "parent": floor}
        return {"zone": zone, "floor": floor, "building": building, "campus": campus, "root": root}[level]

    def lines(self, rooms: list[RoomSpec], readings: list[Reading], spaces_tenant_id: str,
              spaces_tenant_name: str, partner_tenant_id: str) -> list[Line]:
        rng = self.rng
        outage = self.outage
        staged: list[tuple[datetime, int, dict[str, Any] | bytes, str]] = []

        def event(at: datetime, event_type: str, payload: dict[str, Any], key: str) -> None:
            staged.append((at, partition_of(key), {
                "recordUid": f"event-{_uid(rng)}", "recordTimestamp": _ms(at), "spacesTenantId": spaces_tenant_id,
                "spacesTenantName": spaces_tenant_name, "partnerTenantId": partner_tenant_id,
                "eventType": event_type, PAYLOAD_OF[event_type]: payload,
            }, "event"))

        # The location hierarchy first: every location, top down, with its time zone.
        at = self.stream_start
        added: set[str] = set()
        for room in rooms:
            if not room.location_id:
                continue
            for level in ("root", "campus", "building", "floor", "zone"):
                location = self.location(room, level, spaces_tenant_name)
                if location["locationId"] in added:
                    continue
                added.add(location["locationId"])
                at += SECOND
                details = {"timeZone": room.site.zone, "city": room.site.city, "country": room.site.country,
                           "latitude": room.site.latitude, "longitude": room.site.longitude}
                event(at, "LOCATION_CHANGE", {"changeType": "ADD", "location": location, "locationDetails": details},
                      location["locationId"])
        by_key = {room.key: room for room in rooms}
        for reading in readings:
            room = by_key[reading.room_key]
            location = self.location(room, "zone", spaces_tenant_name)
            if reading.source == "camera":
                event(reading.at, "CAMERA_COUNT", {"location": location, **dict(reading.metrics)}, room.location_id)
            else:
                device = room.webex
                assert device is not None
                event(reading.at, "WEBEX_TELEMETRY", {
                    "deviceInfo": {"deviceId": device.device_id, "macAddress": device.mac,
                                   "product": "Cisco Room Bar", "displayName": device.display_name,
                                   "serialNumber": device.serial, "workspaceId": device.workspace_id,
                                   "orgId": device.org_id},
                    "location": location,
                    "telemetries": [{name: value} for name, value in reading.metrics],
                }, room.location_id)
        alive = lambda t: not outage[0] <= t < outage[1]  # noqa: E731
        # Wi-Fi device counts (not people) every half hour in some rooms, whatever happens there.
        for room in rooms:
            if "device_counts" not in room.roles:
                continue
            t = self.history_start + SECOND * rng.randint(0, 1800)
            previous = 0
            while t < self.now - MINUTE:
                if alive(t):
                    associated = rng.randint(0, 14)
                    event(t, "DEVICE_COUNT", {
                        "location": self.location(room, "zone", spaces_tenant_name),
                        "associatedCount": associated, "associatedDelta": associated - previous,
                        "estimatedProbingCount": rng.randint(0, 30), "probingRandomizedPercentage": rng.randint(40, 90),
                        "estimatedDensity": round(rng.uniform(0, 0.2), 3), "userCount": rng.randint(0, associated),
                        "estimatedCapacityPercentage": rng.randint(0, 60),
                    }, room.location_id)
                    previous = associated
                t += timedelta(minutes=30) + SECOND * rng.randint(-60, 60)
        # An event type nobody told us about.
        located = [room for room in rooms if room.location_id]
        for _ in range(5):
            t = self.history_start + SECOND * rng.randint(0, int((self.now - self.history_start).total_seconds()) - 120)
            if alive(t):
                room = rng.choice(located)
                event(t, "BLE_RSSI_UPDATE", {"location": self.location(room, "zone", spaces_tenant_name),
                                             "macAddress": ":".join(_hex(rng, 2) for _ in range(6)),
                                             "rssi": rng.randint(-90, -40)}, room.location_id)
        # KEEP_ALIVE now and then (some with empty tenant fields).
        t = self.history_start
        while t < self.now - MINUTE:
            if alive(t):
                empty = rng.random() < 0.5
                staged.append((t, rng.randint(1, 12), {
                    "recordUid": f"keepalive-{_uid(rng)}", "recordTimestamp": _ms(t),
                    "spacesTenantId": "" if empty else spaces_tenant_id,
                    "spacesTenantName": "" if empty else spaces_tenant_name,
                    "partnerTenantId": "" if empty else partner_tenant_id, "eventType": "KEEP_ALIVE",
                }, "keepalive"))
            t += SECOND * rng.randint(900, 2700)
        # One line cut short: not JSON.
        t = self.book_from + timedelta(hours=12, seconds=rng.randint(0, 3600))
        if not alive(t):
            t = outage[1] + timedelta(minutes=30)
        broken = (b'{"recordUid":"event-' + _uid(rng).encode() + b'","recordTimestamp":' + str(_ms(t)).encode()
                  + b',"spacesTenantId":"' + spaces_tenant_id.encode() + b'","eventType":"CAMERA_COUNT",'
                  b'"cameraCounts":{"location":{"locationId":"loc')
        staged.append((t, rng.randint(1, 12), broken, "malformed"))

        lines: list[Line] = []
        for at, partition, body, kind in staged:
            delay = rng.randint(0, 150_000) if rng.random() < 0.93 else rng.randint(150_000, 240_000)
            delivered = _ms(at) + delay
            if isinstance(body, bytes):
                lines.append(Line(_ms(at), delivered, partition, body, kind, ""))
                continue
            raw = json.dumps(body, separators=(",", ":")).encode()
            lines.append(Line(_ms(at), delivered, partition, raw, kind, body["recordUid"], body["eventType"]))
            if kind == "event" and rng.random() < 0.03:
                lines.append(Line(_ms(at), delivered + rng.randint(1_000, 180_000), partition, raw, "duplicate",
                                  body["recordUid"], body["eventType"]))
        lines.sort(key=lambda line: (line.delivered_ms, line.timestamp_ms))
        return lines


# --------------------------------------------------------------------------------------------------------
# The physical room: who is there
# --------------------------------------------------------------------------------------------------------


class _Occupancy:
    def __init__(self, intervals: list[tuple[datetime, datetime]]):
        deltas: dict[datetime, int] = defaultdict(int)
        for enter, leave in intervals:
            deltas[enter] += 1
            deltas[leave] -= 1
        self.changes: list[tuple[datetime, int, int]] = []
        count = 0
        for t in sorted(deltas):
            if deltas[t]:
                count += deltas[t]
                self.changes.append((t, count, deltas[t]))
        self._times = [t for t, _, _ in self.changes]
        # Presence: true at once, false PRESENCE_LAG after the room emptied (unless someone came back meanwhile).
        self.presence_changes: list[tuple[datetime, bool]] = []
        for index, (t, count, _) in enumerate(self.changes):
            before = self.changes[index - 1][1] if index else 0
            if before == 0 and count > 0 and not (self.presence_changes and self.presence_changes[-1][1]):
                self.presence_changes.append((t, True))
            elif count == 0:
                following = self.changes[index + 1][0] if index + 1 < len(self.changes) else None
                if following is None or following >= t + PRESENCE_LAG:
                    self.presence_changes.append((t + PRESENCE_LAG, False))
        self._presence_times = [t for t, _ in self.presence_changes]

    def count_at(self, t: datetime) -> int:
        index = bisect_right(self._times, t)
        return self.changes[index - 1][1] if index else 0

    def presence_at(self, t: datetime) -> bool:
        index = bisect_right(self._presence_times, t)
        return self.presence_changes[index - 1][1] if index else False

    def occupied_intervals(self) -> list[tuple[datetime, datetime]]:
        out, start = [], None
        for t, count, _ in self.changes:
            if count > 0 and start is None:
                start = t
            elif count == 0 and start is not None:
                out.append((start, t))
                start = None
        return out


# --------------------------------------------------------------------------------------------------------
# The truth: from readings to occupied / empty / unknown, and from that to outcomes
# --------------------------------------------------------------------------------------------------------


def source_timeline(readings: list[Reading], source: str, interp: Interpretation,
                    outage: tuple[datetime, datetime]) -> list[tuple[datetime, str]]:
    """What one source says over time, as (from, state) change points, under one reading of the rules."""
    events: list[tuple[datetime, int, tuple[tuple[str, Any], ...]]] = []
    falls = [r.at for r in readings if ("presence", False) in r.metrics] if interp.lag_corrected else []
    for reading in readings:
        metrics = reading.metrics
        if falls and ("presence", True) in metrics:
            # A presence "true" repeated within the lag before it turns false (a full report, say) is the lag.
            index = bisect_right(falls, reading.at)
            if index < len(falls) and falls[index] - PRESENCE_LAG <= reading.at:
                metrics = tuple(m for m in metrics if m != ("presence", True))
                if not metrics:
                    continue
        if source == "webex" and interp.lag_corrected and ("presence", False) in metrics:
            rest = tuple(m for m in metrics if m != ("presence", False))
            events.append((reading.at - PRESENCE_LAG, 1, (("presence", False),)))
            if rest:
                events.append((reading.at, 1, rest))
        else:
            events.append((reading.at, 1, metrics))
    events.append((outage[0], 0, (("__outage__", True),)))
    events.append((outage[1], 0, (("__outage__", False),)))
    events.sort(key=lambda e: (e[0], e[1]))
    values: dict[str, Any] = {}
    last_seen: datetime | None = None
    down = False
    out: list[tuple[datetime, str]] = [(BEGINNING, UNK)]

    def state(t: datetime) -> str:
        if down:
            return UNK
        if source == "webex":
            if last_seen is None or t - last_seen > interp.dead_after:
                return UNK
            presence, count = values.get("presence"), values.get("peopleCount")
            if presence is True or (isinstance(count, int) and count > 0):
                return OCC
            if presence is False and count == 0:
                return EMPTY
            return UNK
        count = values.get("count")
        if not isinstance(count, int):
            return UNK
        return OCC if count > 0 else EMPTY

    def push(t: datetime, value: str) -> None:
        if out[-1][1] != value:
            out.append((t, value))

    for t, _, metrics in events:
        if source == "webex" and last_seen is not None and not down and last_seen + interp.dead_after < t:
            push(last_seen + interp.dead_after, UNK)
        (first_name, first_value) = metrics[0]
        if first_name == "__outage__":
            down = first_value
            if not down and interp.after_outage == "unknown":
                values.clear()
                last_seen = None
        else:
            values.update(dict(metrics))
            last_seen = t
        push(t, state(t))
    if source == "webex" and last_seen is not None and not down:
        push(last_seen + interp.dead_after, UNK)
    return out


def fused_timeline(sources: list[list[tuple[datetime, str]]], fusion: str) -> list[tuple[datetime, str]]:
    """The room: occupied if any source is; empty when every source (``all``) or every live one (``live``) is
    idle; unknown otherwise. No source at all: unknown."""
    if not sources:
        return [(BEGINNING, UNK)]
    times = sorted({t for timeline in sources for t, _ in timeline})
    cursors = [0] * len(sources)
    out: list[tuple[datetime, str]] = []
    for t in times:
        states = []
        for index, timeline in enumerate(sources):
            while cursors[index] + 1 < len(timeline) and timeline[cursors[index] + 1][0] <= t:
                cursors[index] += 1
            states.append(timeline[cursors[index]][1])
        if OCC in states:
            value = OCC
        elif fusion == "all":
            value = EMPTY if all(s == EMPTY for s in states) else UNK
        else:
            value = EMPTY if EMPTY in states else UNK
        if not out or out[-1][1] != value:
            out.append((t, value))
    return out


class Timeline:
    """A room's (or a source's) state over time: (from, state) change points, the first at BEGINNING."""

    def __init__(self, points: list[tuple[datetime, str]]):
        self.points = points
        self.times = [t for t, _ in points]


def pieces(timeline: Timeline, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """The timeline's spans clipped to [start, end)."""
    times, points = timeline.times, timeline.points
    index = max(bisect_right(times, start) - 1, 0)
    out = []
    while index < len(points) and points[index][0] < end:
        span_start = max(points[index][0], start)
        span_end = min(points[index + 1][0], end) if index + 1 < len(points) else end
        if span_end > span_start:
            out.append((span_start, span_end, points[index][1]))
        index += 1
    return out


def classify(timeline: Timeline, start: datetime, end: datetime) -> str | None:
    """The outcome per the rules, or None when the case is too close to call (partial data, near a threshold)."""
    grace_end = start + GRACE
    around_window = pieces(timeline, start - AROUND, grace_end + AROUND)
    if all(state == UNK for _, _, state in around_window):
        return "unknown"
    if any(state == UNK for _, _, state in pieces(timeline, start - AROUND, end + AROUND)):
        return None
    occupied = [(a, b) for a, b, state in pieces(timeline, start, end) if state == OCC]
    if not occupied:
        return "ghost"
    first, last = occupied[0][0], occupied[-1][1]
    if abs(first - grace_end) < EDGE:
        return None
    tail = end - last
    threshold = max(EARLY_END_AT_LEAST, (end - start) * EARLY_END_FRACTION)
    if first > grace_end:
        return None if tail >= threshold - timedelta(minutes=5) else "late_start"
    if abs(tail - threshold) < timedelta(minutes=5):
        return None
    return "early_end" if tail >= threshold else "attended"
