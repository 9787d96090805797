"""The report tables: their columns (shared by the pages and the CSV downloads) and the CSV responses.

A table is a ``TableSpec`` (title and columns) plus a function from the filters to its rows. A column yields a raw
value for the CSV (numbers stay numbers) and a formatted text for the page.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse

from . import reports
from .report_filters import ReportFilters
from .reports import WEEKDAYS, GhostBooking, GhostRate

# A spreadsheet runs a cell starting with one of these as a formula; meeting subjects come from anyone's calendar.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _percent(value: object) -> str:
    return "–" if value is None else f"{value:.0f} %"


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Any], object]
    show: Callable[[object], str] = _text


@dataclass(frozen=True)
class TableSpec:
    title: str
    columns: tuple[Column, ...]

    def header(self) -> list[str]:
        return [column.title for column in self.columns]

    def csv_row(self, item: object) -> list[object]:
        return [_safe_cell(column.value(item)) for column in self.columns]

    def html_rows(self, items: Iterable[object]) -> list[list[str]]:
        return [[column.show(column.value(item)) for column in self.columns] for item in items]


def _hours(value: float) -> float:
    return round(value, 2)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _local(moment: datetime) -> str:
    return moment.isoformat()


GHOSTS = TableSpec("Ghost bookings", (
    Column("Start", lambda g: _local(g.start), lambda v: str(v)[:16].replace("T", " ")),
    Column("End", lambda g: _local(g.end), lambda v: str(v)[11:16]),
    Column("Building", lambda g: g.building),
    Column("Floor", lambda g: g.floor),
    Column("Room", lambda g: g.room),
    Column("Subject", lambda g: "(private)" if g.private else g.subject),
    Column("Series", lambda g: g.series_id, lambda v: "recurring" if v else ""),
    Column("Grace window coverage (%)", lambda g: _pct(g.evidence.get("grace_window_coverage")), _percent),
    Column("Data gap (min)", lambda g: g.evidence.get("data_gap_minutes")),
    Column("Sources", lambda g: " ".join(g.evidence.get("sources") or [])),
))


def rate_table(title: str, group: str, extra: tuple[Column, ...] = ()) -> TableSpec:
    return TableSpec(title, (
        Column(group, lambda r: r.label),
        *extra,
        Column("Bookings with an outcome", lambda r: r.bookings),
        Column("Ghosts", lambda r: r.ghosts),
        Column("Ghost rate (%)", lambda r: _pct(r.rate), _percent),
        Column("Recoverable hours", lambda r: _hours(r.recoverable_hours)),
    ))


SERIES_COLUMNS = (Column("Room", lambda r: r.room), Column("Zombie", lambda r: "yes" if r.zombie else "no"),
                  Column("Series id", lambda r: r.key, lambda v: str(v)[:12] + "…" if len(str(v)) > 12 else v))

UTILIZATION = TableSpec("Utilisation per room", (
    Column("Building", lambda u: u.building),
    Column("Floor", lambda u: u.floor),
    Column("Room", lambda u: u.room),
    Column("Capacity", lambda u: u.capacity),
    Column("Booked hours", lambda u: _hours(u.booked_hours)),
    Column("Occupied hours", lambda u: _hours(u.occupied_hours)),
    Column("Unbooked occupied hours", lambda u: _hours(u.unbooked_occupied_hours)),
    Column("Peak people", lambda u: u.peak_people),
    Column("Median people", lambda u: u.median_people),
    Column("Peak / capacity (%)", lambda u: _pct(u.peak_fit), _percent),
    Column("Median / capacity (%)", lambda u: _pct(u.median_fit), _percent),
    Column("Data coverage (%)", lambda u: _pct(u.coverage), _percent),
))

HEATMAP = TableSpec("Occupied hours by weekday and hour", (
    Column("Weekday", lambda row: row[0]),
    *(Column(f"{hour:02d}", lambda row, hour=hour: round(row[1][hour] / 60, 2)) for hour in range(24)),
))


def _ghost_rows(filters: ReportFilters) -> Iterator[GhostBooking]:
    return map(reports.ghost_booking, reports.ghost_bookings(filters).iterator(chunk_size=500))


def _heatmap_rows(filters: ReportFilters) -> list[tuple[str, list[float]]]:
    return list(zip(WEEKDAYS, reports.heatmap(filters), strict=True))


def _zombies(filters: ReportFilters) -> list[GhostRate]:
    return [rate for rate in reports.series_rates(filters) if rate.zombie]


Rows = Callable[[ReportFilters], Iterable[Any]]

#: Per report, the tables one can download: ``?format=csv&table=<name>``.
TABLES: dict[str, dict[str, tuple[TableSpec, Rows]]] = {
    "ghost-bookings": {
        "ghosts": (GHOSTS, _ghost_rows),
        "rooms": (rate_table("Ghost rate per room", "Room"), lambda f: reports.ghost_rates(f, "room")),
        "floors": (rate_table("Ghost rate per floor", "Floor"), lambda f: reports.ghost_rates(f, "floor")),
        "buildings": (rate_table("Ghost rate per building", "Building"),
                      lambda f: reports.ghost_rates(f, "building")),
        "series": (rate_table("Ghost rate per recurring series (zombie series first)", "Series", SERIES_COLUMNS),
                   reports.series_rates),
        "zombie-series": (rate_table("Zombie series", "Series", SERIES_COLUMNS), _zombies),
        "organizers": (rate_table("Ghost rate per organiser", "Organiser"), reports.organizer_rates),
    },
    "utilization": {
        "rooms": (UTILIZATION, reports.utilization),
        "heatmap": (HEATMAP, _heatmap_rows),
    },
}


def filename(report: str, table: str, filters: ReportFilters) -> str:
    return f"{report}-{table}-{filters.date_from}-to-{filters.date_to}.csv"


def csv_response(report: str, table: str, filters: ReportFilters) -> StreamingHttpResponse:
    """The whole table as CSV, streamed (the ghost list of a year can be long). ``table`` must be in TABLES."""
    spec, rows = TABLES[report][table]
    return stream_csv(spec, rows(filters), filename(report, table, filters))


def stream_csv(spec: TableSpec, items: Iterable[object], name: str) -> StreamingHttpResponse:
    """``items`` as a streamed CSV download named ``name``: a header line, then one escaped row per item."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow(line) for line in _lines(spec, items))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _lines(spec: TableSpec, items: Iterable[object]) -> Iterator[list[object]]:
    yield spec.header()
    for item in items:
        yield spec.csv_row(item)


class _Echo:
    """A file whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
