"""What happened to a booking, from the room's fused timeline, with the evidence for the call. Pure.

* **ghost**: the room stayed empty (known empty, not unknown) from the start through the grace window, and (once
  the booking is over) nobody came at all;
* **late_start**: the first presence came after the grace window;
* **early_end**: people came in time but the room was empty for the last stretch (at least ``early_end_min``
  minutes and a quarter of the booking), known empty, before the booking ended;
* **attended**: otherwise;
* **unknown**: there is too little data in the grace window to say (gaps are never read as "empty").

Bookings of ``exempt_hours`` or more and all-day bookings get no outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from .fusion import EMPTY, OCCUPIED, UNKNOWN, Span

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


def classify(start: datetime, end: datetime, spans: list[Span], now: datetime, policy: Policy) -> Outcome | None:
    """The outcome of a booking [start, end) given the spans around it; None before its grace window is over."""
    grace_end = min(start + policy.grace, end)
    if now < grace_end:
        return None
    final = now >= end
    horizon = min(end, now)
    inside = [_clip(span, start, horizon) for span in spans if span.end > start and span.start < horizon]
    inside = [span for span in inside if span.end > span.start]
    occupied = [span for span in inside if span.state == OCCUPIED]
    people = [count for span in occupied for count in span.people]
    result = Outcome(
        outcome=UNKNOWN_OUTCOME, final=final,
        first_presence_at=occupied[0].start if occupied else None,
        last_presence_at=occupied[-1].end if occupied else None,
        peak_people=max((span.peak for span in occupied if span.peak is not None), default=None),
        median_people=float(median(people)) if people else None,
        occupied_minutes=sum(span.minutes for span in occupied),
        unknown_minutes=sum(span.minutes for span in inside if span.state == UNKNOWN),
        sources=sorted({source for span in inside for source in span.sources}),
    )
    grace = [_clip(span, start, grace_end) for span in inside if span.start < grace_end]
    grace_seconds = (grace_end - start).total_seconds() or 1.0
    known = sum((s.end - s.start).total_seconds() for s in grace if s.end > s.start and s.state != UNKNOWN)
    result.grace_coverage = known / grace_seconds
    # Presence that begins exactly at the end of the grace window is in time: late means after it.
    present_in_grace = result.first_presence_at is not None and result.first_presence_at <= grace_end

    if present_in_grace:
        result.outcome = _early_end(inside, end, policy) if final else ATTENDED
    elif occupied:
        result.outcome = LATE_START
    elif result.grace_coverage >= policy.min_coverage:
        result.outcome = GHOST
    return result


def _early_end(inside: list[Span], end: datetime, policy: Policy) -> str:
    """Attended, unless the last stretch (long enough) was known empty."""
    duration = end - inside[0].start if inside else timedelta(0)
    threshold = max(policy.early_end, duration / 4)
    tail_empty = timedelta(0)
    for span in reversed(inside):
        if span.state != EMPTY:
            break
        tail_empty += span.end - span.start
    return EARLY_END if tail_empty >= threshold else ATTENDED


def _clip(span: Span, start: datetime, end: datetime) -> Span:
    return Span(max(span.start, start), min(span.end, end), span.state, span.peak, span.people, span.sources)


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
