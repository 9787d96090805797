"""What happened to a booking, from the room's fused timeline, with the evidence for the call. Pure.

* **ghost**: the room stayed empty (known empty, not unknown) from the start through the grace window, and (once
  the booking is over) nobody came at all;
* **late_start**: the first presence came after a grace window that was known empty (a gap in the data there
  could have hidden people who came in time, so then it is unknown);
* **early_end**: people came in time but the room was empty for the last stretch (at least ``early_end_min``
  minutes and a quarter of the booking), known empty, before the booking ended;
* **attended**: otherwise;
* **unknown**: there is too little data in the grace window to say (gaps are never read as "empty").

Bookings of ``exempt_hours`` or more and all-day bookings get no outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from statistics import median

from .fusion import EMPTY, OCCUPIED, UNKNOWN, Span
from .timestamps import MINUTE, SECOND, from_micros, micros, micros_of

ATTENDED, GHOST, LATE_START, EARLY_END, UNKNOWN_OUTCOME = "attended", "ghost", "late_start", "early_end", "unknown"


@dataclass(frozen=True)
class Policy:
    grace: timedelta = timedelta(minutes=10)
    exempt_after: timedelta = timedelta(hours=8)
    early_end: timedelta = timedelta(minutes=15)
    #: Share of the grace window that must be known (occupied or empty) to call anything but ``unknown``.
    min_coverage: float = 0.8


@dataclass
class Outcome:
    outcome: str
    final: bool
    first_presence_at: datetime | None = None
    last_presence_at: datetime | None = None
    peak_people: int | None = None
    median_people: float | None = None
    occupied_minutes: float = 0.0
    unknown_minutes: float = 0.0
    grace_coverage: float = 0.0
    sources: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, object]:
        return {
            "first_presence_at": self.first_presence_at.isoformat() if self.first_presence_at else None,
            "last_presence_at": self.last_presence_at.isoformat() if self.last_presence_at else None,
            "peak_people": self.peak_people,
            "median_people": self.median_people,
            "occupied_minutes": round(self.occupied_minutes, 1),
            "data_gap_minutes": round(self.unknown_minutes, 1),
            "grace_window_coverage": round(self.grace_coverage, 3),
            "sources": self.sources,
        }


def is_exempt(start: datetime, end: datetime, all_day: bool, policy: Policy) -> bool:
    return all_day or end - start >= policy.exempt_after


#: A span as ``call`` reads it: (start µs, end µs, state, peak, people counts, sources) with times in integer
#: microseconds since 1970 (``timestamps.micros``), so that batch callers need not build datetimes.
SpanTuple = tuple[int, int, str, int | None, tuple[int, ...] | list[int], frozenset[str] | set[str]]
#: ``call``'s answer: (outcome, final, first presence µs, last presence µs, peak, median people,
#: occupied µs, unknown µs, grace window coverage, sources).
Call = tuple[str, bool, int | None, int | None, int | None, float | None, int, int, float, frozenset[str]]


@dataclass(frozen=True)
class Rules:
    """A ``Policy`` in microseconds, worked out once per room rather than once per booking."""

    grace: int
    exempt_after: int
    early_end: int
    min_coverage: float

    @classmethod
    def of(cls, policy: Policy) -> Rules:
        return cls(micros_of(policy.grace), micros_of(policy.exempt_after), micros_of(policy.early_end),
                   policy.min_coverage)


def classify(start: datetime, end: datetime, spans: list[Span], now: datetime, policy: Policy) -> Outcome | None:
    """The outcome of a booking [start, end) given the spans around it; None before its grace window is over."""
    tuples = [(micros(span.start), micros(span.end), span.state, span.peak, span.people, frozenset(span.sources))
              for span in spans]
    result = call(micros(start), micros(end), tuples, 0, micros(now), Rules.of(policy))
    if result is None:
        return None
    outcome, final, first, last, peak, median_people, occupied, unknown, coverage, sources = result
    return Outcome(outcome=outcome, final=final,
                   first_presence_at=from_micros(first) if first is not None else None,
                   last_presence_at=from_micros(last) if last is not None else None,
                   peak_people=peak, median_people=median_people, occupied_minutes=occupied / MINUTE,
                   unknown_minutes=unknown / MINUTE, grace_coverage=coverage, sources=sorted(sources))


def call(start: int, end: int, spans: list[SpanTuple], first: int, now: int, rules: Rules) -> Call | None:
    """``classify`` on integer microseconds, for the batch path: ``spans`` in start order, of which those from
    index ``first`` on may overlap the booking. One pass, no intermediate lists (it runs half a million times in a
    rebuild)."""
    grace_end = min(start + rules.grace, end)
    if now < grace_end:
        return None
    horizon = min(end, now)
    first_presence = last_presence = peak = inside_start = None
    occupied = empty = known_in_grace = empty_tail = 0
    people: list[int] = []
    sources: set[frozenset[str]] = set()
    for index in range(first, len(spans)):
        span_start, span_end, state, span_peak, counts, span_sources = spans[index]
        if span_start >= horizon:
            break
        # Clip to the part of the booking that has happened.
        clipped_start = max(span_start, start)
        clipped_end = min(span_end, horizon)
        if clipped_end <= clipped_start:
            continue
        if inside_start is None:
            inside_start = clipped_start
        sources.add(span_sources)
        length = clipped_end - clipped_start
        if state == OCCUPIED:
            if first_presence is None:
                first_presence = clipped_start
            last_presence = clipped_end
            occupied += length
            if span_peak is not None and (peak is None or span_peak > peak):
                peak = span_peak
            people.extend(counts)
            empty_tail = 0
        elif state == EMPTY:
            empty += length
            empty_tail += length
        else:
            empty_tail = 0
        if state != UNKNOWN and clipped_start < grace_end:
            known_in_grace += min(clipped_end, grace_end) - clipped_start
    # Whatever of the booking so far is neither known occupied nor known empty is a gap: unknown spans and
    # stretches with no span at all (a room with no data has a gap as long as the booking).
    unknown = max(0, horizon - start - occupied - empty)
    coverage = known_in_grace / ((grace_end - start) or SECOND)
    final = now >= end
    # Presence that begins exactly at the end of the grace window is in time: late means after it.
    if first_presence is not None and first_presence <= grace_end:
        outcome = ATTENDED
        # Early end: the last stretch was known empty, for long enough (a quarter of the time since the first data).
        if final and empty_tail >= rules.early_end and 4 * empty_tail >= end - inside_start:
            outcome = EARLY_END
    elif coverage < rules.min_coverage:
        outcome = UNKNOWN_OUTCOME
    elif first_presence is not None:
        outcome = LATE_START
    else:
        outcome = GHOST
    return (outcome, final, first_presence, last_presence, peak, float(median(people)) if people else None,
            occupied, unknown, coverage, _union(frozenset(sources)))


@lru_cache(maxsize=256)
def _union(sources: frozenset[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*sources)


def zombie_series(outcomes_in_order: list[tuple[str, str]], run: int = 3) -> set[str]:
    """Series ids with ``run`` ghosts in a row: ``outcomes_in_order`` is (series id, outcome) by start time."""
    streak: dict[str, int] = {}
    zombies: set[str] = set()
    for series, outcome in outcomes_in_order:
        if not series or outcome == UNKNOWN_OUTCOME:
            continue  # no data says nothing either way
        streak[series] = streak.get(series, 0) + 1 if outcome == GHOST else 0
        if streak[series] >= run:
            zombies.add(series)
    return zombies
