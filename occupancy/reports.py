"""Report queries for facility teams: ghost bookings, ghost rates, zombie series, utilisation and the heatmap.

Plain functions of a ``ReportFilters``; every query starts from its tenant. Totals come from ``RoomDay`` (a few rows
per room and day, so a year stays cheap); booking-level figures (the ghost list, series, organisers, median people)
come from ``BookingOutcome``, and so do ghost rates (RoomDay's booking count includes bookings without an outcome).
Daily totals do not know the organiser: with an organiser filter, recoverable time is summed from that organiser's
outcomes, and utilisation ignores it. Only final outcomes count: a running booking can still change its outcome.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.db.models import Count, Max, Q, QuerySet, Sum

from .models import BookingOutcome, OutcomeKind, RoomDay
from .outcomes import zombie_series
from .report_filters import ReportFilters

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class GhostBooking:
    booking_id: int
    room_id: int
    room: str
    floor: str
    building: str
    start: datetime  # in the room's time zone
    end: datetime
    subject: str  # empty for private meetings: we never show what they are about
    private: bool
    series_id: str
    evidence: dict


@dataclass(frozen=True)
class GhostPage:
    items: list[GhostBooking]
    number: int
    pages: int
    count: int
    per_page: int


@dataclass
class GhostRate:
    """Ghosts among the bookings with a known outcome (anything but unknown), for one room, floor, series..."""

    key: str
    label: str
    bookings: int = 0
    ghosts: int = 0
    recoverable_minutes: float = 0.0
    room: str = ""  # series only: where it meets
    zombie: bool = False  # series only: 3 ghosts in a row

    @property
    def rate(self) -> float | None:
        return self.ghosts / self.bookings if self.bookings else None

    @property
    def recoverable_hours(self) -> float:
        return self.recoverable_minutes / 60


@dataclass
class RoomUtilization:
    room_id: int
    room: str
    floor: str
    building: str
    capacity: int | None
    booked_minutes: float
    occupied_minutes: float
    occupied_booked_minutes: float
    covered_booked_minutes: float
    peak_people: int | None
    median_people: float | None = None

    @property
    def booked_hours(self) -> float:
        return self.booked_minutes / 60

    @property
    def occupied_hours(self) -> float:
        return self.occupied_minutes / 60

    @property
    def unbooked_occupied_hours(self) -> float:
        return max(self.occupied_minutes - self.occupied_booked_minutes, 0.0) / 60

    @property
    def coverage(self) -> float | None:
        """Share of the booked time with fresh data: how far the other figures can be trusted."""
        return self.covered_booked_minutes / self.booked_minutes if self.booked_minutes else None

    @property
    def peak_fit(self) -> float | None:
        return _ratio(self.peak_people, self.capacity)

    @property
    def median_fit(self) -> float | None:
        return _ratio(self.median_people, self.capacity)


@dataclass
class GhostReport:
    summary: GhostRate
    rooms: list[GhostRate]
    floors: list[GhostRate]
    buildings: list[GhostRate]
    series: list[GhostRate]
    organizers: list[GhostRate]
    zombies: list[GhostRate] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------
# Ghost bookings
# --------------------------------------------------------------------------------------------------------


def ghost_bookings(filters: ReportFilters) -> QuerySet[BookingOutcome]:
    """The ghost outcomes in range, oldest first (convert each with ``ghost_booking``)."""
    return (_outcomes(filters).filter(outcome=OutcomeKind.GHOST)
            .select_related("booking", "room__floor__building").order_by("start", "pk"))


def ghost_booking(outcome: BookingOutcome) -> GhostBooking:
    room, booking = outcome.room, outcome.booking
    zone = room.zone
    return GhostBooking(
        booking_id=booking.pk, room_id=room.pk, room=room.name, floor=room.floor.name,
        building=room.floor.building.name, start=outcome.start.astimezone(zone), end=outcome.end.astimezone(zone),
        subject="" if booking.private else booking.subject, private=booking.private,
        series_id=outcome.series_id, evidence=outcome.evidence if isinstance(outcome.evidence, dict) else {},
    )


def ghost_booking_page(filters: ReportFilters, page: int = 1, per_page: int = 50) -> GhostPage:
    """One page of the ghost list; a page past the end is empty rather than an error."""
    paginator = Paginator(ghost_bookings(filters), per_page)
    items = [ghost_booking(o) for o in paginator.page(page)] if page <= paginator.num_pages else []
    return GhostPage(items, page, paginator.num_pages, paginator.count, per_page)


# --------------------------------------------------------------------------------------------------------
# Ghost rates and recoverable hours
# --------------------------------------------------------------------------------------------------------

#: Per level: the lookup it groups by (from a RoomDay or a BookingOutcome alike) and the names making its label.
_LEVELS = {
    "room": ("room_id", ("room__name",)),
    "floor": ("room__floor_id", ("room__floor__building__name", "room__floor__name")),
    "building": ("room__floor__building_id", ("room__floor__building__name",)),
}
_GHOST = Q(outcome=OutcomeKind.GHOST)


def ghost_rates(filters: ReportFilters, level: str) -> list[GhostRate]:
    """Ghost rate and recoverable hours per room, floor or building, the worst first.

    Counted from outcomes: RoomDay.bookings also counts bookings without one (all-day, exempt), which would water
    the rate down. Recoverable time is RoomDay's, unless an organiser filter asks for the outcomes' own sum."""
    key, names = _LEVELS[level]
    rows = (_outcomes(filters).exclude(outcome=OutcomeKind.UNKNOWN).values(key, *names)
            .annotate(known=Count("pk"), ghost_count=Count("pk", filter=_GHOST)).order_by(key))
    if filters.organizer:
        recoverable = _recoverable(_outcomes(filters), key)
    else:
        days = _days(filters).values(key).annotate(minutes=Sum("recoverable_minutes")).order_by(key)
        recoverable = {row[key]: row["minutes"] or 0.0 for row in days}
    return _worst_first([GhostRate(str(row[key]), " / ".join(row[name] for name in names), row["known"],
                                   row["ghost_count"], recoverable.get(row[key], 0.0)) for row in rows])


def total(rates: list[GhostRate]) -> GhostRate:
    """The sum of disjoint groups (for instance all buildings)."""
    summary = GhostRate("all", "All rooms")
    for rate in rates:
        summary.bookings += rate.bookings
        summary.ghosts += rate.ghosts
        summary.recoverable_minutes += rate.recoverable_minutes
    return summary


def series_rates(filters: ReportFilters) -> list[GhostRate]:
    """Per recurring series with at least one ghost; zombie series (3 ghosts in a row) first."""
    rows = (_outcomes(filters).exclude(series_id="").order_by("start", "pk")
            .values_list("series_id", "outcome", "start", "end", "evidence", "room__name", "booking__subject",
                         "booking__private"))
    rates: dict[str, GhostRate] = {}
    in_order: list[tuple[str, str]] = []
    for series, outcome, start, end, evidence, room, subject, private in rows.iterator(chunk_size=2000):
        in_order.append((series, outcome))
        rate = rates.setdefault(series, GhostRate(series, "", room=room))
        rate.label = "(private)" if private else subject or "(no subject)"  # the latest occurrence names it
        if outcome == OutcomeKind.UNKNOWN:
            continue
        rate.bookings += 1
        rate.ghosts += outcome == OutcomeKind.GHOST
        rate.recoverable_minutes += recoverable_minutes(outcome, start, end, evidence)
    for series in zombie_series(in_order):
        rates[series].zombie = True
    return sorted(_worst_first([r for r in rates.values() if r.ghosts]), key=lambda r: not r.zombie)


def organizer_rates(filters: ReportFilters) -> list[GhostRate]:
    """Per organiser with at least one ghost, labelled by a short pseudonym (we keep only a hash of the address),
    or by the address when it is the one filtered on."""
    outcomes = _outcomes(filters).exclude(organizer_hash="")
    rows = (outcomes.exclude(outcome=OutcomeKind.UNKNOWN).values("organizer_hash")
            .annotate(known=Count("pk"), ghost_count=Count("pk", filter=_GHOST))
            .filter(ghost_count__gt=0).order_by("organizer_hash"))
    recoverable = _recoverable(outcomes, "organizer_hash")
    return _worst_first([GhostRate(row["organizer_hash"], _organizer_label(filters, row["organizer_hash"]),
                                   row["known"], row["ghost_count"], recoverable.get(row["organizer_hash"], 0.0))
                         for row in rows])


def recoverable_minutes(outcome: str, start: datetime, end: datetime, evidence: object) -> float:
    """Booked time nobody used and that could have been released, as ``aggregates`` counts it for RoomDay: a
    ghost's whole duration; an early end's known-empty tail, from the last presence in its evidence."""
    if outcome == OutcomeKind.GHOST:
        return (end - start).total_seconds() / 60
    last = evidence.get("last_presence_at") if isinstance(evidence, dict) else None
    if outcome != OutcomeKind.EARLY_END or not last:
        return 0.0
    try:
        return max((end - datetime.fromisoformat(last)).total_seconds() / 60, 0.0)
    except (TypeError, ValueError):
        return 0.0  # evidence we cannot read recovers nothing rather than failing the report


def ghost_report(filters: ReportFilters) -> GhostReport:
    """Every table of the ghost-booking report but the list itself."""
    buildings = ghost_rates(filters, "building")
    series = series_rates(filters)
    return GhostReport(
        summary=total(buildings), rooms=ghost_rates(filters, "room"), floors=ghost_rates(filters, "floor"),
        buildings=buildings, series=series, organizers=organizer_rates(filters),
        zombies=[rate for rate in series if rate.zombie],
    )


# --------------------------------------------------------------------------------------------------------
# Utilisation and heatmap (daily totals; the organiser filter does not apply)
# --------------------------------------------------------------------------------------------------------


def utilization(filters: ReportFilters) -> list[RoomUtilization]:
    """Per room with data in range: booked vs occupied hours, unbooked occupancy, capacity fit, data coverage."""
    rows = (_days(filters)
            .values("room_id", "room__name", "room__floor__name", "room__floor__building__name", "room__capacity")
            .annotate(booked=Sum("booked_minutes"), occupied=Sum("occupied_minutes"),
                      occupied_booked=Sum("occupied_booked_minutes"), covered=Sum("covered_booked_minutes"),
                      peak=Max("peak_people"))
            .order_by("room__floor__building__name", "room__floor__name", "room__name", "room_id"))
    medians = _median_people(filters)
    return [
        RoomUtilization(row["room_id"], row["room__name"], row["room__floor__name"],
                        row["room__floor__building__name"], row["room__capacity"], row["booked"] or 0.0,
                        row["occupied"] or 0.0, row["occupied_booked"] or 0.0, row["covered"] or 0.0, row["peak"],
                        medians.get(row["room_id"]))
        for row in rows
    ]


def heatmap(filters: ReportFilters) -> list[list[float]]:
    """Occupied minutes summed by local weekday (0 = Monday) and local hour: a 7 x 24 grid."""
    grid = [[0.0] * 24 for _ in WEEKDAYS]
    for day, by_hour in _days(filters).values_list("date", "occupied_by_hour").iterator(chunk_size=2000):
        if not isinstance(by_hour, list):
            continue  # a row written before the hours were filled
        for hour, minutes in enumerate(by_hour[:24]):
            grid[day.weekday()][hour] += float(minutes or 0)
    return grid


# --------------------------------------------------------------------------------------------------------
# Scoped querysets
# --------------------------------------------------------------------------------------------------------


def _days(filters: ReportFilters) -> QuerySet[RoomDay]:
    return RoomDay.objects.filter(tenant=filters.tenant, room__in=filters.rooms(), date__gte=filters.date_from,
                                  date__lte=filters.date_to)


def _outcomes(filters: ReportFilters, *, by_organizer: bool = True) -> QuerySet[BookingOutcome]:
    """Final outcomes of bookings starting within the range's local dates, each in its own room's time zone."""
    outcomes = BookingOutcome.objects.filter(local_range(filters), tenant=filters.tenant, final=True,
                                             booking__cancelled=False, room__in=filters.rooms())
    if by_organizer and filters.organizer:
        outcomes = outcomes.filter(organizer_hash=filters.organizer_hash)
    return outcomes


def local_range(filters: ReportFilters) -> Q:
    """One condition per time zone among the rooms: local midnight of the first day to that of the day after."""
    pairs = filters.rooms().values_list("time_zone", "floor__building__time_zone").distinct()
    condition = Q(pk__in=[])
    for name in sorted({own or building for own, building in pairs}):
        zone = ZoneInfo(name)
        start = datetime.combine(filters.date_from, time.min, zone)
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, zone)
        in_zone = Q(room__time_zone=name) | Q(room__time_zone="", room__floor__building__time_zone=name)
        condition |= in_zone & Q(start__gte=start, start__lt=end)
    return condition


def _median_people(filters: ReportFilters) -> dict[int, float]:
    """Per room, the median of its bookings' median head counts (bookings nobody attended have none)."""
    counts: dict[int, list[float]] = defaultdict(list)
    rows = (_outcomes(filters, by_organizer=False).exclude(median_people=None)
            .values_list("room_id", "median_people"))
    for room_id, people in rows.iterator(chunk_size=2000):
        counts[room_id].append(people)
    return {room_id: float(median(values)) for room_id, values in counts.items()}


def _recoverable(outcomes: QuerySet[BookingOutcome], key: str) -> dict[object, float]:
    """Recoverable minutes of the outcomes, summed per ``key``; only ghosts and early ends recover anything."""
    sums: dict[object, float] = defaultdict(float)
    rows = (outcomes.filter(outcome__in=[OutcomeKind.GHOST, OutcomeKind.EARLY_END]).order_by()
            .values_list(key, "outcome", "start", "end", "evidence"))
    for group, outcome, start, end, evidence in rows.iterator(chunk_size=2000):
        sums[group] += recoverable_minutes(outcome, start, end, evidence)
    return sums


def _worst_first(rates: list[GhostRate]) -> list[GhostRate]:
    return sorted(rates, key=lambda r: (-(r.rate or 0), -r.ghosts, r.label))


def _organizer_label(filters: ReportFilters, digest: str) -> str:
    if filters.organizer and digest == filters.organizer_hash:
        return filters.organizer
    return f"organizer {digest[:8]}"


def _ratio(part: float | None, whole: int | None) -> float | None:
    return part / whole if part is not None and whole else None
