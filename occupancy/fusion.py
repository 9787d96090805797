"""Fusing every source's readings of one room into one timeline of occupied / empty / unknown spans. Pure.

Sources report **on change** (DESIGN.md section 6: cameras "when there is a change in the aggregated count",
Webex devices on change plus a full report about hourly), so a reading holds from its ``observed_at`` until the
same source's next reading, as long as the source is alive: a source silent for longer than its ``silence`` limit
(its full-report interval, per source kind) has stopped being believed. At any moment the room is

* **occupied** if any live source says so (presence yes, or more than zero people),
* **empty** if no live source says occupied and at least one says idle,
* **unknown** when no live source knows: none mapped, every one silent past its limit, or reporting that it does not
  know (people −1, presence null / Unknown), or our own stream was down over that stretch (``outages``).

A source that does not know is not live: it neither empties nor fills a room another source sees. Unknown is never
counted as empty. Some sources are slow to say a room emptied (Webex presence takes about two minutes to turn No):
an idle reading that follows an occupied one of the same source takes effect ``empty_lag`` earlier, so those
minutes are not booked as occupied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

OCCUPIED, EMPTY, UNKNOWN = "occupied", "empty", "unknown"

#: How long a source may stay silent and still be believed (settings: ``OCCUPANCY_SOURCE_SILENCE_S``). Webex
#: devices send a full report about hourly; cameras send only on change and have no documented heartbeat, so their
#: last count holds for as long as we keep signals (a room empty over a weekend is still empty on Monday).
#: ``spaceOccupancy`` is a per-window aggregate and IoT sensors' cadence varies by vendor: both uncertain, see README.
DEFAULT_SILENCE = {
    "webex": timedelta(minutes=90),
    "webex_people": timedelta(minutes=90),
    "spaces_camera": timedelta(days=7),
    "spaces_occupancy": timedelta(hours=2),
    "spaces_iot": timedelta(hours=6),
    "spaces_wifi": timedelta(minutes=10),
}
#: How late each source reports that a room emptied.
DEFAULT_EMPTY_LAG = {"webex": timedelta(minutes=2)}
FALLBACK_STALENESS = timedelta(hours=1)


@dataclass(frozen=True)
class Reading:
    source: str
    observed_at: datetime
    present: bool | None = None
    people: int | None = None

    @property
    def state(self) -> str:
        if self.present is True or (self.people is not None and self.people > 0):
            return OCCUPIED
        if self.present is False or self.people == 0:
            return EMPTY
        return UNKNOWN


@dataclass
class Span:
    start: datetime
    end: datetime
    state: str
    peak: int | None = None
    people: list[int] = field(default_factory=list, repr=False)
    sources: set[str] = field(default_factory=set)

    @property
    def median(self) -> float | None:
        return float(median(self.people)) if self.people else None

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class _Piece:
    """One source's reading over the time it holds."""

    source: str
    start: datetime
    end: datetime
    state: str
    people: int | None


def _pieces(readings: Iterable[Reading], staleness: Mapping[str, timedelta],
            empty_lag: Mapping[str, timedelta], outages: Sequence[tuple[datetime, datetime]] = (),
            outage_sources: frozenset[str] | None = None) -> list[_Piece]:
    by_source: dict[str, list[Reading]] = {}
    for reading in readings:
        by_source.setdefault(reading.source, []).append(reading)
    pieces: list[_Piece] = []
    for source, items in by_source.items():
        items.sort(key=lambda r: r.observed_at)
        ttl = staleness.get(source, FALLBACK_STALENESS)
        lag = empty_lag.get(source, timedelta(0))
        own: list[_Piece] = []
        for index, reading in enumerate(items):
            start = reading.observed_at
            if lag and own and own[-1].state == OCCUPIED and reading.state == EMPTY:
                # The source says "empty" late: the room emptied ``lag`` ago, and the "occupied" readings it gave
                # in between were stale. Cut them back to where the room really emptied.
                start -= lag
                while own and own[-1].state == OCCUPIED and own[-1].start >= start:
                    own.pop()
                if own and own[-1].end > start:
                    last = own[-1]
                    own[-1] = _Piece(source, last.start, start, last.state, last.people)
                start = max(start, own[-1].end) if own else start
            end = start + ttl if start == reading.observed_at else reading.observed_at + ttl
            if index + 1 < len(items):
                end = min(end, items[index + 1].observed_at)
            if end <= start:
                continue
            people = reading.people if reading.people is not None and reading.people >= 0 else None
            own.append(_Piece(source, start, end, reading.state, people))
        if outages and (outage_sources is None or source in outage_sources):
            own = _without(own, outages)
        pieces.extend(own)
    return pieces


def _without(pieces: list[_Piece], outages: Sequence[tuple[datetime, datetime]]) -> list[_Piece]:
    """The pieces minus the stretches our stream lost (what happened there is unknown, not what the source said
    last). After an outage, a reading from before it holds again until the source's next one: only the lost
    stretch itself is unknown."""
    out: list[_Piece] = []
    for piece in pieces:
        parts = [(piece.start, piece.end)]
        for low, high in outages:
            if high <= piece.start or low >= piece.end:
                continue
            parts = [part for a, b in parts for part in ((a, min(b, low)), (max(a, high), b)) if part[1] > part[0]]
        out += [_Piece(piece.source, a, b, piece.state, piece.people) for a, b in parts]
    return out


def combine(states: Iterable[str]) -> str:
    """The fusion rule over what the live sources say: occupied if any says so, else empty if any says idle,
    else unknown (no live source, or only sources that do not know: those are not live)."""
    states = set(states)
    if OCCUPIED in states:
        return OCCUPIED
    return EMPTY if EMPTY in states else UNKNOWN


def fuse(
    readings: Iterable[Reading],
    start: datetime,
    end: datetime,
    *,
    staleness: Mapping[str, timedelta] = DEFAULT_SILENCE,
    empty_lag: Mapping[str, timedelta] = DEFAULT_EMPTY_LAG,
    outages: Sequence[tuple[datetime, datetime]] = (),
    outage_sources: frozenset[str] | None = None,
) -> list[Span]:
    """The room's timeline over [start, end), as contiguous spans covering it exactly. ``readings`` must include
    each source's last reading before ``start`` (it holds into the range). ``outages`` are stretches our stream
    lost; they blank the readings of ``outage_sources`` (every source when None)."""
    pieces = sorted((p for p in _pieces(readings, staleness, empty_lag, outages, outage_sources)
                     if p.end > start and p.start < end),
                    key=lambda p: p.start)
    cuts = sorted({start, end, *(max(p.start, start) for p in pieces), *(min(p.end, end) for p in pieces)})
    spans: list[Span] = []
    active: list[_Piece] = []  # a sweep: the pieces holding at the current cut (a handful, one per source)
    upcoming = 0
    for left, right in zip(cuts, cuts[1:], strict=False):
        while upcoming < len(pieces) and pieces[upcoming].start <= left:
            active.append(pieces[upcoming])
            upcoming += 1
        active = [p for p in active if p.end > left]
        fresh = [p for p in active if p.end >= right]
        state = combine({p.state for p in fresh})
        counts = [p.people for p in fresh if p.people is not None]
        peak = max(counts) if counts and state == OCCUPIED else (0 if state == EMPTY else None)
        sources = {p.source for p in fresh}
        if spans and spans[-1].state == state and spans[-1].end == left:
            last = spans[-1]
            last.end = right
            last.sources |= sources
            if peak is not None:
                last.peak = peak if last.peak is None else max(last.peak, peak)
            if state == OCCUPIED:
                last.people.extend(counts)
        else:
            spans.append(Span(left, right, state, peak, list(counts) if state == OCCUPIED else [], sources))
    return spans
