"""Every judged booking of a tenant, one row each, for the bookings API and its CSV (``occupancy/bookings_api.py``).

Unlike the ghost report this lists all outcomes, running (``final`` false) as well as final ones, so integrators can
mirror what we judged. A row carries where and when the booking was, the call and its evidence, never what the
meeting was about or who organised it: the subject and the organiser's address stay out (we hold only a hash of the
address, and that stays out too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db.models import QuerySet
from django.http import Http404

from spaces_calendar.core.models import Tenant

from .csv_export import Column, TableSpec
from .models import BookingOutcome, OutcomeKind
from .report_filters import FilterError, ReportFilters, parse_filters

# The same local-dates condition as every report (one clause per room time zone), so the rows of a range are the
# ones the reports count.
from .reports import local_range

OUTCOMES: tuple[str, ...] = tuple(OutcomeKind.values)
EVIDENCE_KEYS = ("first_presence_at", "last_presence_at", "peak_people", "median_people", "occupied_minutes",
                 "data_gap_minutes", "grace_window_coverage", "sources")


@dataclass(frozen=True)
class BookingFilters:
    """The report filters plus the outcomes asked for (empty: every outcome)."""

    report: ReportFilters
    outcomes: tuple[str, ...] = ()

    def params(self) -> dict[str, str]:
        params = self.report.params()
        if self.outcomes:
            params["outcome"] = ",".join(self.outcomes)
        return params


@dataclass(frozen=True)
class BookingRow:
    booking_id: int
    room_id: int
    room: str
    room_email: str
    building: str
    floor: str
    start: datetime  # UTC
    end: datetime
    time_zone: str  # the room's own (or its building's)
    all_day: bool
    outcome: str
    final: bool
    series_id: str
    evidence: dict[str, object]


def parse_booking_filters(params: Mapping[str, str], tenant: Tenant, today: date | None = None) -> BookingFilters:
    """The report filters (``parse_filters``) and ``outcome``: one outcome or several, comma-separated (repeating
    the parameter works too). Malformed values of either are reported together, and before an id that is not the
    tenant's (a 404), as ``parse_filters`` itself does."""
    errors: dict[str, str] = {}
    outcomes = _outcomes(params, errors)
    try:
        report = parse_filters(params, tenant, today)
    except FilterError as error:
        raise FilterError({**error.errors, **errors}) from None
    except Http404:
        if errors:
            raise FilterError(errors) from None
        raise
    if errors:
        raise FilterError(errors)
    return BookingFilters(report, outcomes)


def booking_outcomes(filters: BookingFilters) -> QuerySet[BookingOutcome]:
    """The tenant's outcomes of bookings starting within the local dates, by start then booking id.

    Cancelled bookings are left out as in the reports: the pipeline drops their outcomes, and until it has, a
    cancelled meeting was not judged in any sense that matters."""
    report = filters.report
    rows = BookingOutcome.objects.filter(local_range(report), tenant=report.tenant, booking__cancelled=False,
                                         room__in=report.rooms())
    if report.organizer:
        rows = rows.filter(organizer_hash=report.organizer_hash)
    if filters.outcomes:
        rows = rows.filter(outcome__in=filters.outcomes)
    return rows.select_related("booking", "room__floor__building").order_by("start", "booking_id")


def booking_row(outcome: BookingOutcome) -> BookingRow:
    room, booking = outcome.room, outcome.booking
    return BookingRow(
        booking_id=booking.pk, room_id=room.pk, room=room.name, room_email=room.email,
        building=room.floor.building.name, floor=room.floor.name,
        start=outcome.start.astimezone(UTC), end=outcome.end.astimezone(UTC), time_zone=str(room.zone),
        all_day=booking.all_day, outcome=outcome.outcome, final=outcome.final, series_id=outcome.series_id,
        evidence=evidence(outcome.evidence),
    )


def booking_rows(filters: BookingFilters) -> Iterator[BookingRow]:
    """Every row, read in chunks (a year of a large tenant is long); for the CSV."""
    return map(booking_row, booking_outcomes(filters).iterator(chunk_size=500))


def evidence(stored: object) -> dict[str, object]:
    """The documented evidence keys of the stored JSON, each present (None when missing), nothing else: the API
    promises this shape, and a key added to the evidence later is not published by accident."""
    raw = stored if isinstance(stored, dict) else {}
    shown: dict[str, object] = {key: raw.get(key) for key in EVIDENCE_KEYS}
    sources = raw.get("sources")
    shown["sources"] = [str(source) for source in sources] if isinstance(sources, list) else []
    return shown


def _outcomes(params: Mapping[str, str], errors: dict[str, str]) -> tuple[str, ...]:
    values = params.getlist("outcome") if hasattr(params, "getlist") else [params.get("outcome") or ""]
    text = ",".join(value for value in values if value.strip())
    if not text.strip():
        return ()
    chosen = [part.strip() for part in text.split(",")]
    if any(part not in OUTCOMES for part in chosen):
        errors["outcome"] = f"Expected one or more of {', '.join(OUTCOMES)}, separated by commas."
        return ()
    return tuple(dict.fromkeys(chosen))  # in the order asked, once each


def _utc(moment: object) -> str:
    return moment.isoformat().replace("+00:00", "Z") if isinstance(moment, datetime) else str(moment)


def _flag(value: object) -> str:
    return "true" if value else "false"


def _evidence_column(key: str) -> Column:
    return Column(key, lambda row: row.evidence.get(key))


#: The CSV: one line per row, the JSON's fields flattened (room and evidence spread over columns). Cells go
#: through ``TableSpec.csv_row``, which escapes what a spreadsheet would run as a formula (room and building
#: names are typed by people, series ids come from calendars).
BOOKINGS = TableSpec("Bookings", (
    Column("booking_id", lambda r: r.booking_id),
    Column("room_id", lambda r: r.room_id),
    Column("room", lambda r: r.room),
    Column("room_email", lambda r: r.room_email),
    Column("building", lambda r: r.building),
    Column("floor", lambda r: r.floor),
    Column("start", lambda r: _utc(r.start)),
    Column("end", lambda r: _utc(r.end)),
    Column("time_zone", lambda r: r.time_zone),
    Column("all_day", lambda r: _flag(r.all_day)),
    Column("outcome", lambda r: r.outcome),
    Column("final", lambda r: _flag(r.final)),
    Column("series_id", lambda r: r.series_id),
    *(_evidence_column(key) for key in EVIDENCE_KEYS if key != "sources"),
    Column("sources", lambda r: " ".join(r.evidence.get("sources") or [])),
))

