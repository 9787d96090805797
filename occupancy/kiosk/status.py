"""What a kiosk says about a room at one moment. Pure: bookings and sensor readings in, a status out.

**Occupancy now** follows ``occupancy.fusion``: a source's latest reading holds for its staleness window; the room
is *occupied* if any fresh source says so, *empty* if at least one source is fresh and all fresh ones are idle,
*unknown* otherwise (no sensor, stale data, or a sensor that does not know).

**State** (bookings are half-open: one ending at 10:00 is over at 10:00, one starting at 10:00 is current then):

* ``busy``: the room is occupied (booked or not), or it is booked now and occupancy is unknown (we trust the
  calendar when we cannot see the room);
* ``pending``: it is booked now and the room is empty, within the grace window from the booking's start (the
  attendees are on their way). Bookings exempt from ghost calling (all-day, or ``exempt_after_hours`` long or
  longer) stay ``pending`` while empty for their whole length;
* ``free``: otherwise. That includes a booked room still empty after the grace window: the booking is a probable
  ghost (DESIGN.md section 7) and the room is offered; ``current_booking`` still names it.

``busy_until`` (busy or pending by a booking): the end of the run of bookings that overlap or touch the current
one. ``free_until`` (free): the start of the next booking. Either is None when there is no such time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from occupancy.fusion import DEFAULT_SILENCE, EMPTY, FALLBACK_STALENESS, OCCUPIED, Reading, combine

FREE, PENDING, BUSY = "free", "pending", "busy"


@dataclass(frozen=True)
class Slot:
    """A live (not cancelled) booking as the kiosk needs it."""

    start: datetime
    end: datetime
    subject: str = ""
    private: bool = False
    all_day: bool = False


@dataclass(frozen=True)
class Policy:
    grace: timedelta = timedelta(minutes=10)
    exempt_after: timedelta = timedelta(hours=8)
    show_subjects: bool = False


@dataclass(frozen=True)
class Occupancy:
    state: str
    people_count: int | None
    #: The newest reading of any source, fresh or not (None: no sensor has ever reported).
    observed_at: datetime | None
    fresh_sources: tuple[str, ...]
    known_sources: tuple[str, ...]
    #: When the first fresh reading goes stale, which may change the state.
    changes_at: datetime | None


@dataclass(frozen=True)
class Status:
    state: str
    current: Slot | None
    next: Slot | None
    free_until: datetime | None
    busy_until: datetime | None
    occupancy: Occupancy
    #: The next moment this status may change by the clock alone.
    valid_until: datetime


def occupancy_now(readings: Iterable[Reading], now: datetime,
                  staleness: Mapping[str, timedelta] = DEFAULT_SILENCE) -> Occupancy:
    """Fuse each source's latest reading (``RoomSourceState``) into the room's occupancy at ``now``."""
    readings = list(readings)
    fresh = [r for r in readings if now < r.observed_at + staleness.get(r.source, FALLBACK_STALENESS)]
    state = combine(r.state for r in fresh)
    counts = [r.people for r in fresh if r.people is not None and r.people >= 0]
    people = (max(counts) if counts else None) if state == OCCUPIED else (0 if state == EMPTY else None)
    expiries = [r.observed_at + staleness.get(r.source, FALLBACK_STALENESS) for r in fresh]
    return Occupancy(
        state=state,
        people_count=people,
        observed_at=max((r.observed_at for r in readings), default=None),
        fresh_sources=tuple(sorted({r.source for r in fresh})),
        known_sources=tuple(sorted({r.source for r in readings})),
        changes_at=min(expiries, default=None),
    )


def room_status(slots: Sequence[Slot], occupancy: Occupancy, now: datetime, policy: Policy,
                max_age: timedelta) -> Status:
    """The room's state at ``now`` from its live bookings (any order) and its occupancy."""
    live = sorted((s for s in slots if s.end > now and s.end > s.start), key=lambda s: (s.start, s.end))
    current = next((s for s in live if s.start <= now), None)
    upcoming = [s for s in live if s.start > now]
    grace_end = current.start + policy.grace if current else None
    if current is None:
        state = BUSY if occupancy.state == OCCUPIED else FREE
    elif occupancy.state != EMPTY:
        state = BUSY
    elif now < grace_end or _exempt(current, policy):
        state = PENDING
    else:
        state = FREE
    booked = current is not None and state != FREE
    return Status(
        state=state,
        current=current,
        next=upcoming[0] if upcoming else None,
        free_until=upcoming[0].start if state == FREE and upcoming else None,
        busy_until=_run_end(live, current) if booked else None,
        occupancy=occupancy,
        valid_until=min(_boundaries(live, now, grace_end, occupancy, max_age)),
    )


def _exempt(slot: Slot, policy: Policy) -> bool:
    return slot.all_day or slot.end - slot.start >= policy.exempt_after


def _run_end(live: Sequence[Slot], current: Slot) -> datetime:
    """The end of the bookings that overlap or follow ``current`` back to back (``live`` sorted by start)."""
    end = current.end
    for slot in live:
        if slot.start <= end:
            end = max(end, slot.end)
    return end


def _boundaries(live: Sequence[Slot], now: datetime, grace_end: datetime | None, occupancy: Occupancy,
                max_age: timedelta) -> list[datetime]:
    times = [now + max_age]
    times += [s.start for s in live if s.start > now] + [s.end for s in live]
    if grace_end is not None and grace_end > now:
        times.append(grace_end)
    if occupancy.changes_at is not None:
        times.append(occupancy.changes_at)
    return times


def isoformat(moment: datetime | None) -> str | None:
    """UTC, whole seconds, ``Z``: what every kiosk time looks like on the wire."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def slot_document(slot: Slot | None, policy: Policy) -> dict | None:
    if slot is None:
        return None
    subject = slot.subject if policy.show_subjects and not slot.private and slot.subject else None
    return {"start": isoformat(slot.start), "end": isoformat(slot.end), "all_day": slot.all_day,
            "subject": subject}


def status_document(room: Mapping[str, object], status: Status, policy: Policy, *, has_calendar: bool) -> dict:
    """The JSON document of one room, without ``data_age_s`` (that one is added when it is served)."""
    occupancy = status.occupancy
    return {
        "room": room,
        "state": status.state,
        "current_booking": slot_document(status.current, policy),
        "next_booking": slot_document(status.next, policy),
        "free_until": isoformat(status.free_until),
        "busy_until": isoformat(status.busy_until),
        "occupancy": {"state": occupancy.state, "people_count": occupancy.people_count,
                      "observed_at": isoformat(occupancy.observed_at), "sources": list(occupancy.fresh_sources)},
        "source": {"calendar": has_calendar, "sensors": list(occupancy.known_sources)},
    }


def room_reference(room) -> dict:
    """The ``room`` object of every kiosk document (a ``Room`` with ``floor__building`` loaded)."""
    building = room.floor.building
    return {"id": room.pk, "name": room.name, "capacity": room.capacity,
            "time_zone": room.time_zone or building.time_zone,
            "floor": {"id": room.floor_id, "name": room.floor.name},
            "building": {"id": building.pk, "name": building.name}}
