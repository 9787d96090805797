"""JSON reports API: ``GET /api/v1/reports/ghost-bookings`` and ``GET /api/v1/reports/utilization``.

Authentication is a session (the browser) or a DRF token (``Authorization: Token <key>``; keys from
``manage.py drf_create_token <username>`` or the admin). The tenant is chosen exactly as for the pages
(``tenancy.active_membership``): the one picked in the session, else the user's first membership by tenant name.
Token middleware cannot see the user (DRF authenticates inside the view), so it is resolved here again.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces_calendar.core.models import Tenant
from spaces_calendar.core.tenancy import active_membership

from . import reports
from .report_filters import MAX_DAYS, MAX_PER_PAGE, FilterError, parse_filters, parse_page
from .report_serializers import FilterErrorSerializer, GhostReportSerializer, UtilizationReportSerializer

PER_PAGE = 50

_FILTER_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First local date (default: 29 days before `to`)."),
    OpenApiParameter("to", OpenApiTypes.DATE,
                     description=f"Last local date (default: today in the tenant's time zone); the range holds at "
                                 f"most {MAX_DAYS} days."),
    OpenApiParameter("building", OpenApiTypes.INT, description="A building id of the tenant."),
    OpenApiParameter("floor", OpenApiTypes.INT, description="A floor id of the tenant (in `building`, if given)."),
    OpenApiParameter("room", OpenApiTypes.INT, description="A room id of the tenant (on `floor`, if given)."),
]
_ORGANIZER = OpenApiParameter("organizer", OpenApiTypes.EMAIL,
                              description="Only bookings organised by this address.")
_PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="Page of the ghost list, from 1."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description=f"Ghost bookings per page, at most {MAX_PER_PAGE}."),
]
_ERRORS = {
    400: OpenApiResponse(FilterErrorSerializer, description="Malformed filters."),
    401: OpenApiResponse(description="No session and no valid token."),
    403: OpenApiResponse(description="Not a member of any tenant."),
    404: OpenApiResponse(description="A building, floor or room id that is not the tenant's."),
}


class ReportView(APIView):
    # Token first: an unauthenticated client is then told 401 with "WWW-Authenticate: Token".
    authentication_classes = [TokenAuthentication, SessionAuthentication]
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
                    "a known outcome; with `organizer` they are counted from that organiser's bookings only.",
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
