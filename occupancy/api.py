"""JSON reports API: ``GET /api/v1/reports/ghost-bookings`` and ``GET /api/v1/reports/utilization``.

Authentication is a session (the browser) or an API token (``Authorization: Token <key>``; keys from the API tokens
page or ``manage.py create_api_token <username>``, only their hashes stored). The tenant is chosen exactly as for
the pages (``tenancy.active_membership``): the one picked in the session, else the user's first membership by tenant
name.
Token middleware cannot see the user (DRF authenticates inside the view), so it is resolved here again.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces_calendar.api_tokens.auth import ApiTokenAuthentication
from spaces_calendar.core.models import Tenant
from spaces_calendar.core.tenancy import active_membership

from . import reports
from .report_filters import EARLIEST, LATEST, MAX_DAYS, MAX_ID, MAX_PER_PAGE, FilterError, parse_filters, parse_page
from .report_serializers import FilterErrorSerializer, GhostReportSerializer, UtilizationReportSerializer

PER_PAGE = 50


def blank_or(schema: dict) -> dict:
    """An optional filter: empty (what a form sends for a field left blank) means its default, as absent does."""
    return {"anyOf": [schema, {"type": "string", "enum": [""]}]}


_DATE = blank_or({"type": "string", "format": "date"})
_PLACE_ID = blank_or({"type": "integer", "minimum": 1, "maximum": MAX_ID})
_DATES = (f"Dates run from {EARLIEST} to {LATEST}; `from` after `to`, or a range of more than {MAX_DAYS} days, is a "
          f"400 (a rule between parameters, which the schema cannot state).")
_FILTER_PARAMETERS = [
    OpenApiParameter("from", _DATE, description=f"First local date (default: 29 days before `to`). {_DATES}"),
    OpenApiParameter("to", _DATE,
                     description=f"Last local date (default: yesterday in the tenant's time zone, the last day "
                                 f"that is over; today's meetings still to come have no data yet); the range holds "
                                 f"at most {MAX_DAYS} days."),
    OpenApiParameter("building", _PLACE_ID, description="A building id of the tenant."),
    OpenApiParameter("floor", _PLACE_ID, description="A floor id of the tenant (in `building`, if given: another "
                                                     "building's floor is a 400)."),
    OpenApiParameter("room", _PLACE_ID, description="A room id of the tenant (on `floor` and in `building`, if "
                                                    "given: another one's room is a 400)."),
]
_ORGANIZER = OpenApiParameter("organizer", blank_or({"type": "string", "format": "email"}),
                              description="Only bookings organised by this address.")
PAGE = blank_or({"type": "integer", "minimum": 1, "maximum": MAX_ID})
PAGE_SIZE = blank_or({"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE})
_PAGE_PARAMETERS = [
    OpenApiParameter("page", PAGE, description="Page of the ghost list, from 1."),
    OpenApiParameter("page_size", PAGE_SIZE, description=f"Ghost bookings per page, at most {MAX_PER_PAGE}."),
]
_ERRORS = {
    400: OpenApiResponse(FilterErrorSerializer, description="Malformed filters."),
    401: OpenApiResponse(description="No session and no valid token."),
    403: OpenApiResponse(description="Not a member of any tenant."),
    404: OpenApiResponse(description="A building, floor or room id that is not the tenant's."),
}


class ReportView(APIView):
    # Token first: an unauthenticated client is then told 401 with "WWW-Authenticate: Token".
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def tenant(self, request: Request) -> Tenant:
        membership = active_membership(request)
        if membership is None:
            raise PermissionDenied("Reports are for members of a tenant.")
        return membership.tenant

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, FilterError):
            return Response({"detail": "These filters cannot be used.", "errors": exc.errors}, status=400)
        return super().handle_exception(exc)


class GhostBookingsReport(ReportView):
    @extend_schema(
        operation_id="reports_ghost_bookings",
        summary="Ghost bookings, ghost rates, recoverable hours and zombie series",
        description="Final outcomes of bookings starting within the local dates. Ghost rates count bookings with "
                    "a known outcome; with `organizer` they are counted from that organiser's bookings only. "
                    "Recoverable hours are the whole length of each ghost booking plus the empty tail of each "
                    "booking that ended early (from its last presence to its booked end).",
        parameters=[*_FILTER_PARAMETERS, _ORGANIZER, *_PAGE_PARAMETERS],
        responses={200: GhostReportSerializer, **_ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_filters(request.query_params, self.tenant(request))
        page, per_page = parse_page(request.query_params, PER_PAGE)
        data = {"filters": filters, "report": reports.ghost_report(filters),
                "page": reports.ghost_booking_page(filters, page, per_page)}
        return Response(GhostReportSerializer(data).data)


class UtilizationReport(ReportView):
    @extend_schema(
        operation_id="reports_utilization",
        summary="Booked vs occupied hours, capacity fit, data coverage and the hour x weekday heatmap",
        description="From daily totals per room; the organiser filter does not apply here.",
        parameters=_FILTER_PARAMETERS,
        responses={200: UtilizationReportSerializer, **_ERRORS},
        tags=["reports"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_filters(request.query_params, self.tenant(request))
        grid = reports.heatmap(filters)
        data = {"filters": filters, "rooms": reports.utilization(filters),
                "heatmap": {"weekdays": reports.WEEKDAYS,
                            "occupied_hours": [[round(minutes / 60, 3) for minutes in row] for row in grid]}}
        return Response(UtilizationReportSerializer(data).data)
