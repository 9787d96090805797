"""Kiosk JSON API (bearer kiosk token): room status, one room or many, and availability search.

Thin views: parse, look up, check the token's tenant and scope, answer. Status answers are precomputed documents
(``documents``) sent as stored bytes with a weak ETag; ``If-None-Match`` with it gets a bodiless 304.
A room of another tenant is a 404 (its existence is not the token's business); a room of the token's tenant outside
its scope is a 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, renderer_classes
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces_calendar.core.models import Building, Floor

from . import changes, documents, memory, queries, sweep, tokens
from .auth import HasKioskGrant, JSONOnly, KioskTokenAuthentication, KioskTokenThrottle
from .availability import availability_document, available_rooms
from .conf import kiosk_settings
from .params import MAX_AHEAD, MAX_CAPACITY, MAX_ID, MAX_INTERVAL, InvalidParameters, parse_availability, parse_id
from .schemas import KioskAvailabilitySerializer, KioskErrorSerializer, RoomStatusListSerializer, RoomStatusSerializer
from .tokens import KioskGrant

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# An optional id or number left empty means "not given", as absent does (``params.parse_id``).
_OPTIONAL_ID = {"anyOf": [_ID, {"type": "string", "enum": [""]}]}
_CONDITIONAL = [
    OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
                     description="The ETag of the status you have: unchanged gives 304."),
    OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304],
                     description="Weak validator of the status; send it back in If-None-Match."),
    OpenApiParameter("Cache-Control", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304],
                     description="`private, max-age=<seconds>`: poll again after that."),
]
_RETRY_AFTER = OpenApiParameter("Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429],
                                description="Seconds until this token may ask again.")
_ERRORS = {
    400: OpenApiResponse(KioskErrorSerializer, description="A malformed id or parameter."),
    401: OpenApiResponse(KioskErrorSerializer, description="No kiosk token, or an unknown or revoked one."),
    403: OpenApiResponse(KioskErrorSerializer, description="A room, floor or building outside the token's scope."),
    404: OpenApiResponse(KioskErrorSerializer, description="No such room, floor or building in the token's tenant."),
    429: OpenApiResponse(KioskErrorSerializer, description="Too many requests with this token; see Retry-After."),
}


class KioskView(APIView):
    authentication_classes = [KioskTokenAuthentication]
    permission_classes = [HasKioskGrant]
    throttle_classes = [KioskTokenThrottle]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly
    parser_classes: list = []

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, InvalidParameters):
            return Response({"detail": "These parameters cannot be used.", "errors": exc.errors}, status=400)
        return super().handle_exception(exc)


class StatusView(KioskView):
    """A status endpoint with a fast path for the common poll.

    DRF's dispatch (request wrapping, negotiation, authenticator/permission/throttle objects) costs about as much
    as the rest of a poll, so a GET with a valid token that the rate limit lets through is answered by ``fast``
    directly; anything else (no or bad token, 429, malformed ids, 403/404) takes DRF's dispatch, which calls the
    same ``respond`` and turns its exceptions into DRF's JSON errors. The rate limit counts a request once either way.
    """

    def respond(self, grant: KioskGrant, params: Callable[[], Mapping[str, str]], kwargs: dict,
                if_none_match: str | None) -> HttpResponse:
        """The answer; ``params`` gives the query parameters (parsing them costs, and one room needs none)."""
        raise NotImplementedError

    def fast(self, request, kwargs: dict) -> HttpResponse | None:
        """The answer to a GET, or None for DRF's dispatch to give it (and its error)."""
        grant = tokens.from_header(request.META.get("HTTP_AUTHORIZATION"))
        if grant is None or not KioskTokenThrottle.count(request, grant):
            return None
        return self.respond(grant, lambda: request.GET, kwargs, request.META.get("HTTP_IF_NONE_MATCH"))

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET":
            try:
                response = self.fast(request, kwargs)
            except (InvalidParameters, NotFound, PermissionDenied):
                response = None  # DRF's dispatch answers these
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: Request, **kwargs) -> HttpResponse:
        return self.respond(request.auth, lambda: request.query_params, kwargs,
                            request.META.get("HTTP_IF_NONE_MATCH"))


def _conditional(if_none_match: str | None, etag: str, body: Callable[[], bytes]) -> HttpResponse:
    """304 when the client's ETag matches (weak comparison, RFC 9110 13.1.2), else the body."""
    if if_none_match and (if_none_match.strip() == "*" or etag[2:] in {
            tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body(), content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={kiosk_settings().http_max_age_s}"
    return response


class RoomStatus(StatusView):
    @extend_schema(
        operation_id="kiosk_room_status",
        summary="The status of one room, for a room panel",
        description="Precomputed: a booking or sensor change shows in the next request. Poll with If-None-Match.",
        parameters=[OpenApiParameter("room_id", _ID, OpenApiParameter.PATH), *_CONDITIONAL,
                    _RETRY_AFTER],
        responses={200: RoomStatusSerializer,
                   304: OpenApiResponse(description="Not modified since the ETag you sent."), **_ERRORS},
        tags=["kiosk"],
    )
    def get(self, request: Request, **kwargs) -> HttpResponse:
        return super().get(request, **kwargs)

    def respond(self, grant: KioskGrant, params: Callable[[], Mapping[str, str]], kwargs: dict,
                if_none_match: str | None) -> HttpResponse:
        now_ts = time.time()
        return self.answer(grant, memory.room(parse_id(kwargs["room_id"], "room_id"), now_ts), now_ts,
                           if_none_match)

    def fast(self, request, kwargs: dict) -> HttpResponse | None:
        """At most one query a poll, none when the token and the room are remembered (``memory``); a token this
        process does not remember is read in the room's query."""
        raw = tokens.bearer(request.META.get("HTTP_AUTHORIZATION"))
        if raw is None:
            return None
        grant = tokens.cached(raw)
        if grant is None:
            return None
        room_id = parse_id(kwargs["room_id"], "room_id")
        now_ts = time.time()
        if grant is tokens.NOT_CACHED:
            stamp = changes.ticket()  # one ticket covers the token and the room of this one query
            token, row = queries.token_and_room(tokens.prefix_of(raw), room_id, now_ts)
            grant = tokens.remember(raw, token, stamp)
            if grant is None or not KioskTokenThrottle.count(request, grant):
                return None
            lookup = memory.Lookup(row, stamp)
        elif KioskTokenThrottle.count(request, grant):
            lookup = memory.room(room_id, now_ts)
        else:
            return None
        return self.answer(grant, lookup, now_ts, request.META.get("HTTP_IF_NONE_MATCH"))

    @staticmethod
    def answer(grant: KioskGrant, lookup: memory.Lookup, now_ts: float, if_none_match: str | None) -> HttpResponse:
        row = lookup.row
        if row is None or row.tenant_id != grant.tenant_id:
            raise NotFound("No such room.")
        if not grant.covers(row.room_id, row.floor_id, row.building_id):
            raise PermissionDenied("This room is not in the kiosk token's scope.")
        entry = row.entry or sweep.entry_for(row, now_ts)
        if entry is None:  # deleted while we rebuilt it
            raise NotFound("No such room.")
        if not lookup.remembered:
            memory.remember(row, entry, lookup.ticket, now_ts)
        return _conditional(if_none_match, documents.etag_one(entry),
                            lambda: documents.render_one(entry, now_ts))


class RoomStatusList(StatusView):
    @extend_schema(
        operation_id="kiosk_room_status_list",
        summary="The status of every room in the token's scope, for a floor or lobby screen",
        description="Rooms by name; narrow with `building` and `floor`. One ETag for the whole list.",
        parameters=[OpenApiParameter("building", _OPTIONAL_ID, description="A building id of the tenant."),
                    OpenApiParameter("floor", _OPTIONAL_ID, description="A floor id of the tenant."),
                    *_CONDITIONAL, _RETRY_AFTER],
        responses={200: RoomStatusListSerializer, 304: OpenApiResponse(description="Not modified."), **_ERRORS},
        tags=["kiosk"],
    )
    def get(self, request: Request, **kwargs) -> HttpResponse:
        return super().get(request, **kwargs)

    def respond(self, grant: KioskGrant, params: Callable[[], Mapping[str, str]], kwargs: dict,
                if_none_match: str | None) -> HttpResponse:
        building_id = parse_id(params().get("building"), "building", required=False)
        floor_id = parse_id(params().get("floor"), "floor", required=False)
        now_ts = time.time()
        selection = queries.Selection(grant.tenant_id, grant.room_ids, grant.floor_ids, grant.building_ids,
                                      building_id, floor_id)
        lookup = memory.room_list(selection, now_ts)
        rows = lookup.rows
        if not rows:
            _check_places(grant, building_id, floor_id)  # only now: an empty answer may be a wrong filter
        entries = documents.current_entries(rows)
        if lookup.ticket is not None:
            served = {entry.room_id: entry for entry in entries}
            for row in rows:
                if row.room_id not in lookup.remembered and row.room_id in served:
                    memory.remember(row, served[row.room_id], lookup.ticket, now_ts)
        return _conditional(if_none_match, documents.etag_many(entries),
                            lambda: documents.render_many(entries, now_ts))


def _check_places(grant: KioskGrant, building_id: int | None, floor_id: int | None) -> None:
    """Filters naming another tenant's (or no) building or floor are a 404, not an empty list."""
    if building_id is not None and not Building.objects.filter(pk=building_id, tenant_id=grant.tenant_id).exists():
        raise NotFound("No such building.")
    if floor_id is not None:
        floors = Floor.objects.filter(pk=floor_id, building__tenant_id=grant.tenant_id)
        if building_id is not None:
            floors = floors.filter(building_id=building_id)
        if not floors.exists():
            raise NotFound("No such floor" + (" in that building." if building_id is not None else "."))


class AvailableRooms(KioskView):
    @extend_schema(
        operation_id="kiosk_available_rooms",
        summary="Rooms in the token's scope that are free for an interval",
        description=f"Free: no booking overlaps the interval and, when it starts within 5 minutes of now, nobody is "
                    f"in the room. `from` equal to `to` asks about that instant (a booking starting then takes the "
                    f"room). Rules between the parameters, which the schema cannot state, are 400s: `to` before "
                    f"`from`, an interval longer than {MAX_INTERVAL.days} days, one that is over, one starting more "
                    f"than {MAX_AHEAD.days} days ahead.",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="Start, with a UTC offset."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True,
                             description="End, with a UTC offset; not before `from`."),
            OpenApiParameter("capacity", {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY},
                                                    {"type": "string", "enum": [""]}]},
                             description="At least this many seats."),
            OpenApiParameter("building", _OPTIONAL_ID, description="A building id of the tenant."),
            OpenApiParameter("floor", _OPTIONAL_ID, description="A floor id of the tenant."),
            _RETRY_AFTER,
        ],
        responses={200: KioskAvailabilitySerializer, **_ERRORS},
        tags=["kiosk"],
    )
    def get(self, request: Request) -> Response:
        grant: KioskGrant = request.auth
        now = timezone.now()
        query = parse_availability(request.query_params, now)
        _check_places(grant, query.building_id, query.floor_id)
        return Response(availability_document(query, available_rooms(grant, query, now)))


@extend_schema(exclude=True)
@api_view(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@authentication_classes([])
@permission_classes([])
@renderer_classes([JSONRenderer])
def no_such_endpoint(request: Request, rest: str) -> Response:
    """Under /api/v1/rooms/, an unknown path is a JSON 404 too (a client reads JSON, not Django's HTML page)."""
    return Response({"detail": "No such endpoint."}, status=404)
