"""Report pages for facility teams: ghost bookings and utilisation, for viewers and admins of request.tenant.

Thin: parse the filters, call the report functions, hand tables and charts to the template. Every table can be
downloaded with ``?<filters>&format=csv&table=<name>`` (the names are in ``csv_export.TABLES``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from spaces_calendar.core.models import Tenant

from . import charts, reports
from .csv_export import TABLES, csv_response
from .report_filters import FilterError, ReportFilters, filter_choices, parse_filters, parse_page

PER_PAGE = 50
CHART_BARS = 30  # more bars than this stop being readable; the tables hold every row


def tenant_member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Any member of the tenant the user works in (viewer or admin); no membership at all is a 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.membership is None:
            raise PermissionDenied("Reports are for members of a tenant.")
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class CsvLink:
    """Another CSV download offered beside a table (a table of its rows that the page does not repeat)."""

    name: str
    label: str
    url: str


@dataclass(frozen=True)
class PageTable:
    name: str
    title: str
    header: list[str]
    rows: list[list[str]]
    csv_url: str
    also: tuple[CsvLink, ...] = ()


@tenant_member_required
@require_GET
def ghost_bookings(request: HttpRequest) -> HttpResponse:
    template = "occupancy/ghost_bookings.html"
    try:
        filters = parse_filters(request.GET, request.tenant)
        page, per_page = parse_page(request.GET, PER_PAGE)
    except FilterError as error:
        return _invalid(request, template, error)
    if request.GET.get("format") == "csv":
        return _csv(request, "ghost-bookings", filters)
    report = reports.ghost_report(filters)
    ghosts = reports.ghost_booking_page(filters, page, per_page)
    table = _table_maker("ghost-bookings", filters)
    context = {
        **_form_context(request.tenant, filters),
        "report": report,
        "ghosts": ghosts,
        "ghost_table": table("ghosts", ghosts.items),
        "page_links": _page_links(filters, ghosts, per_page),
        # One series table, zombie series first and marked: a table of the zombies alone repeated its first rows
        # (on the demo, all of them). Their own CSV stays one click away.
        "tables": [table("rooms", report.rooms), table("floors", report.floors), table("buildings", report.buildings),
                   table("series", report.series, also=(("zombie-series", "Zombie series only (CSV)"),)),
                   table("organizers", report.organizers)],
        "chart": _ghost_chart(report.rooms),
    }
    return render(request, template, context)


@tenant_member_required
@require_GET
def utilization(request: HttpRequest) -> HttpResponse:
    template = "occupancy/utilization.html"
    try:
        filters = parse_filters(request.GET, request.tenant)
    except FilterError as error:
        return _invalid(request, template, error)
    if request.GET.get("format") == "csv":
        return _csv(request, "utilization", filters)
    rooms = reports.utilization(filters)
    grid = reports.heatmap(filters)
    table = _table_maker("utilization", filters)
    context = {
        **_form_context(request.tenant, filters),
        "tables": [table("rooms", rooms), table("heatmap", list(zip(reports.WEEKDAYS, grid, strict=True)))],
        "usage_chart": _usage_chart(rooms),
        "heatmap_chart": charts.heatmap_chart(
            "Occupied hours by weekday and hour",
            "Total occupied hours of the chosen rooms in each local hour of each weekday; darker is busier.",
            [[minutes / 60 for minutes in row] for row in grid], reports.WEEKDAYS),
    }
    return render(request, template, context)


def _csv(request: HttpRequest, report: str, filters: ReportFilters) -> HttpResponse:
    table = request.GET.get("table", "")
    if table not in TABLES[report]:
        return HttpResponseBadRequest(f"Unknown table: choose one of {', '.join(TABLES[report])}.")
    return csv_response(report, table, filters)


def _invalid(request: HttpRequest, template: str, error: FilterError) -> HttpResponse:
    context = {**_form_context(request.tenant, None), "errors": error.errors, "values": request.GET}
    return render(request, template, context, status=400)


def _table_maker(report: str, filters: ReportFilters) -> Callable[..., PageTable]:
    def csv_url(name: str) -> str:
        return "?" + urlencode({**filters.params(), "format": "csv", "table": name})

    def make(name: str, items: Iterable[object], also: tuple[tuple[str, str], ...] = ()) -> PageTable:
        spec, _ = TABLES[report][name]
        return PageTable(name, spec.title, spec.header(), spec.html_rows(items), csv_url(name),
                         tuple(CsvLink(other, label, csv_url(other)) for other, label in also))

    return make


def _form_context(tenant: Tenant, filters: ReportFilters | None) -> dict[str, object]:
    """The filter form's choices: only the tenant's places, narrowed to the chosen building and floor."""
    choices = filter_choices(tenant, filters)
    return {
        "filters": filters,
        "buildings": choices.buildings,
        "floors": choices.floors,
        "rooms": choices.rooms,
        "values": filters.params() if filters else {},
    }


def _page_links(filters: ReportFilters, page: reports.GhostPage, per_page: int) -> dict[str, str]:
    def link(number: int) -> str:
        return "?" + urlencode({**filters.params(), "page": number, "page_size": per_page})

    links = {}
    if page.number > 1:
        links["previous"] = link(min(page.number - 1, max(page.pages, 1)))
    if page.number < page.pages:
        links["next"] = link(page.number + 1)
    return links


def _ghost_chart(rates: list[reports.GhostRate]) -> str:
    bars = [charts.Bar(rate.label, (100 * (rate.rate or 0),),
                       f"{100 * (rate.rate or 0):.0f} % ({rate.ghosts} of {rate.bookings})")
            for rate in rates[:CHART_BARS]]
    return charts.bar_chart("Ghost rate per room",
                            "Share of each room's bookings with a known outcome where nobody came, worst first.",
                            bars)


def _usage_chart(rooms: list[reports.RoomUtilization]) -> str:
    busiest = sorted(rooms, key=lambda room: -room.booked_minutes)[:CHART_BARS]
    bars = [charts.Bar(room.room, (room.booked_hours, room.occupied_hours),
                       f"{room.booked_hours:.1f} h / {room.occupied_hours:.1f} h") for room in busiest]
    return charts.bar_chart("Booked vs occupied hours per room",
                            "For each room, the hours booked and the hours the room was occupied, most booked first.",
                            bars, series=("Booked hours", "Occupied hours"))
