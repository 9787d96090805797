"""Every judged booking: ``GET /api/v1/bookings`` (JSON, paginated) and ``GET /api/v1/bookings.csv`` (streamed).

Authentication, tenant choice and the 400 shape are the reports API's (``ReportView``); the filters are the reports'
(``parse_filters``) plus ``outcome``. The rows themselves come from ``booking_rows``.
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .api import _ERRORS, _FILTER_PARAMETERS, _ORGANIZER, PAGE, PAGE_SIZE, ReportView
from .booking_rows import (
    BOOKINGS,
    OUTCOMES,
    BookingFilters,
    BookingRow,
    booking_outcomes,
    booking_row,
    booking_rows,
    parse_booking_filters,
)
from .csv_export import stream_csv
from .report_filters import MAX_PER_PAGE, parse_page

PER_PAGE = 50

_OUTCOME = OpenApiParameter(
    "outcome", OpenApiTypes.STR, many=True, enum=list(OUTCOMES), style="form", explode=False,
    description="Only these outcomes, comma-separated (e.g. `ghost,late_start`); default: every outcome.")
_PAGES = [
    OpenApiParameter("page", PAGE, description="Page of the bookings, from 1."),
    OpenApiParameter("page_size", PAGE_SIZE, description=f"Bookings per page, at most {MAX_PER_PAGE}."),
]
_DESCRIPTION = ("The tenant's bookings with an outcome (running ones too: `final` is false until the booking has "
                "ended), starting within the local dates of each room, by start then booking id. Cancelled "
                "bookings are left out; subjects and organisers never appear.")


class RoomRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="room_id")
    name = serializers.CharField(source="room")
    email = serializers.CharField(source="room_email", help_text="The room's mailbox, or empty.")


class EvidenceSerializer(serializers.Serializer):
    first_presence_at = serializers.CharField(allow_null=True, help_text="ISO 8601, or null if nobody came.")
    last_presence_at = serializers.CharField(allow_null=True)
    peak_people = serializers.IntegerField(allow_null=True)
    median_people = serializers.FloatField(allow_null=True)
    occupied_minutes = serializers.FloatField(allow_null=True)
    data_gap_minutes = serializers.FloatField(allow_null=True, help_text="Minutes without fresh sensor data.")
    grace_window_coverage = serializers.FloatField(
        allow_null=True, help_text="Share of the grace window with fresh sensor data, 0 to 1.")
    sources = serializers.ListField(child=serializers.CharField(), help_text="Sensor sources that reported.")


class BookingRowSerializer(serializers.Serializer):
    booking_id = serializers.IntegerField()
    room = RoomRefSerializer(source="*")
    building = serializers.CharField(help_text="The building's name.")
    floor = serializers.CharField(help_text="The floor's name.")
    # In UTC whatever zone the server is in (DRF writes UTC with a ``Z``).
    start = serializers.DateTimeField(default_timezone=UTC, help_text="ISO 8601, UTC.")
    end = serializers.DateTimeField(default_timezone=UTC, help_text="ISO 8601, UTC.")
    time_zone = serializers.CharField(help_text="The room's IANA time zone (its local dates are this zone's).")
    all_day = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    final = serializers.BooleanField(help_text="False while the booking runs: the outcome may still change.")
    series_id = serializers.CharField(help_text="The recurring series, or empty.")
    evidence = EvidenceSerializer()


class BookingPageSerializer(serializers.Serializer):
    """The ghost report's page fields (count, page, pages, page_size, results) plus links to the neighbours."""

    count = serializers.IntegerField(help_text="Bookings matching the filters, on every page.")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first.")
    results = BookingRowSerializer(many=True)


class BookingsView(ReportView):
    @extend_schema(
        operation_id="bookings_list",
        summary="Judged bookings with their outcome and evidence",
        description=_DESCRIPTION,
        parameters=[*_FILTER_PARAMETERS, _ORGANIZER, _OUTCOME, *_PAGES],
        responses={200: BookingPageSerializer, **_ERRORS},
        tags=["bookings"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_booking_filters(request.query_params, self.tenant(request))
        page, per_page = parse_page(request.query_params, PER_PAGE)
        paginator = Paginator(booking_outcomes(filters), per_page)
        # A page past the end is empty rather than an error, as in the ghost report.
        items: list[BookingRow] = (
            [booking_row(outcome) for outcome in paginator.page(page)] if page <= paginator.num_pages else [])
        data = {
            "count": paginator.count, "page": page, "pages": paginator.num_pages, "page_size": per_page,
            "next": _page_url(request, filters, page + 1, per_page) if page < paginator.num_pages else None,
            "previous": (_page_url(request, filters, min(page - 1, max(paginator.num_pages, 1)), per_page)
                         if page > 1 else None),
            "results": items,
        }
        return Response(BookingPageSerializer(data).data)


class _JSONErrors(BaseContentNegotiation):
    """Whatever the client accepts (a CSV client may well send ``Accept: text/csv``), errors (400, 401, 403, 404)
    are JSON like the other endpoints' rather than a 406; the CSV itself is a streaming response that no renderer
    touches."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class BookingsCSVView(ReportView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONErrors

    @extend_schema(
        operation_id="bookings_csv",
        summary="The same bookings as CSV, every row (no pagination)",
        description=_DESCRIPTION + " One line per booking, streamed; the room and the evidence are spread over "
                                   "columns, `sources` space-separated, times in UTC. Cells a spreadsheet would "
                                   "run as a formula are prefixed with `'`.",
        parameters=[*_FILTER_PARAMETERS, _ORGANIZER, _OUTCOME],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header line."),
                   **_ERRORS},
        tags=["bookings"],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = parse_booking_filters(request.query_params, self.tenant(request))
        report = filters.report
        return stream_csv(BOOKINGS, booking_rows(filters), f"bookings-{report.date_from}-to-{report.date_to}.csv")


def _page_url(request: Request, filters: BookingFilters, page: int, per_page: int) -> str:
    query = urlencode({**filters.params(), "page": page, "page_size": per_page})
    return request.build_absolute_uri(f"{request.path}?{query}")
