"""The filters of every report, parsed once from the query string for the pages, their CSV downloads and the API.

A malformed value is the caller's mistake (``FilterError``, answered 400). A well-formed id that is not one of the
tenant's is answered exactly like an id that does not exist (``Http404``), so other tenants' ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from spaces_calendar.calendars.bookings import organizer_hash
from spaces_calendar.core.models import Building, Floor, Room, Tenant

MAX_DAYS = 366
DEFAULT_DAYS = 30
# Far outside any data we hold, and keeps local-midnight arithmetic clear of datetime's limits.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
MAX_ID = 2**63 - 1  # a bigger number would overflow the database's integer and fail as a 500
MAX_PER_PAGE = 200
_Place = TypeVar("_Place", Building, Floor, Room)


class FilterError(ValueError):
    """Malformed filters: ``errors`` maps each parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class ReportFilters:
    tenant: Tenant
    date_from: date
    date_to: date
    building: Building | None = None
    floor: Floor | None = None
    room: Room | None = None
    organizer: str = ""

    @property
    def organizer_hash(self) -> str:
        return organizer_hash(self.tenant.pk, self.organizer)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def rooms(self) -> QuerySet[Room]:
        """The tenant's rooms inside the chosen building, floor or room."""
        rooms = Room.objects.filter(tenant=self.tenant)
        if self.building is not None:
            rooms = rooms.filter(floor__building=self.building)
        if self.floor is not None:
            rooms = rooms.filter(floor=self.floor)
        if self.room is not None:
            rooms = rooms.filter(pk=self.room.pk)
        return rooms

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for links that keep them, such as the CSV downloads)."""
        params = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        for name in ("building", "floor", "room"):
            if (place := getattr(self, name)) is not None:
                params[name] = str(place.pk)
        if self.organizer:
            params["organizer"] = self.organizer
        return params


def parse_filters(params: Mapping[str, str], tenant: Tenant, today: date | None = None) -> ReportFilters:
    """Filters from a QueryDict; ``today`` (the tenant's local date by default) anchors the default range, which
    ends the day before it (see :func:`default_to`)."""
    errors: dict[str, str] = {}
    date_from, date_to = _date(params, "from", errors), _date(params, "to", errors)
    ids = {name: _positive(params, name, errors) for name in ("building", "floor", "room")}
    organizer = _email(params, errors)
    if errors:
        raise FilterError(errors)
    date_to = date_to or default_to(tenant, today)
    date_from = date_from or date_to - timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise FilterError({"from": "The start date is after the end date."})
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise FilterError({"to": f"The range is longer than {MAX_DAYS} days."})
    building, floor, room = _places(tenant, **ids)
    return ReportFilters(tenant, date_from, date_to, building, floor, room, organizer)


def default_to(tenant: Tenant, today: date | None = None) -> date:
    """The last date of a report when none is asked for: yesterday, the last local day that is over.

    Not today: its meetings still to come would count as booked hours with no sensor data yet (0 % coverage) and
    no outcome, and its figures change until midnight. A report that asks for ``to=<today>`` still gets today.
    """
    return (today or timezone.localdate(timezone=ZoneInfo(tenant.time_zone))) - timedelta(days=1)


@dataclass(frozen=True)
class Choice:
    """One option of a place filter; ``offered`` is False when the chosen building or floor rules it out."""

    place: Building | Floor | Room
    offered: bool = True


@dataclass(frozen=True)
class FilterChoices:
    buildings: list[Choice]
    floors: list[Choice]
    rooms: list[Choice]


def filter_choices(tenant: Tenant, filters: ReportFilters | None) -> FilterChoices:
    """The tenant's places for the filter form: floors of the chosen building, rooms of the chosen building and
    floor. Every place is listed (the page's script narrows the choices again as the person changes them), the
    others marked as not offered, so that a combination the filters refuse with a 400 is not offered."""
    building = filters.building if filters else None
    floor = filters.floor if filters else None
    floors = Floor.objects.filter(building__tenant=tenant).select_related("building")
    rooms = Room.objects.filter(tenant=tenant).select_related("floor__building").order_by(
        "floor__building__name", "floor__name", "name", "pk")
    return FilterChoices(
        buildings=[Choice(b) for b in Building.objects.filter(tenant=tenant)],
        floors=[Choice(f, building is None or f.building_id == building.pk) for f in floors],
        rooms=[Choice(r, (building is None or r.floor.building_id == building.pk)
                      and (floor is None or r.floor_id == floor.pk)) for r in rooms],
    )


def parse_page(params: Mapping[str, str], default_per_page: int) -> tuple[int, int]:
    """(page, per_page) from ``page`` and ``page_size``; numbers from 1, the page size at most MAX_PER_PAGE."""
    errors: dict[str, str] = {}
    page = _positive(params, "page", errors) or 1
    per_page = _positive(params, "page_size", errors) or default_per_page
    if per_page > MAX_PER_PAGE:
        errors["page_size"] = f"At most {MAX_PER_PAGE}."
    if errors:
        raise FilterError(errors)
    return page, per_page


def _date(params: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        errors[name] = "Not a date: expected YYYY-MM-DD."
        return None
    if not EARLIEST <= parsed <= LATEST:
        errors[name] = f"Expected a date from {EARLIEST} to {LATEST}."
        return None
    return parsed


def _positive(params: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        errors[name] = "Expected a whole number from 1."
        return None
    return int(value)


def _email(params: Mapping[str, str], errors: dict[str, str]) -> str:
    value = (params.get("organizer") or "").strip().lower()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        errors["organizer"] = "Not an email address."
        return ""
    return value


def _places(tenant: Tenant, building: int | None, floor: int | None,
            room: int | None) -> tuple[Building | None, Floor | None, Room | None]:
    """Look the ids up within the tenant only, then check that the narrower ones lie in the wider ones."""
    found_building = _get(Building.objects.filter(tenant=tenant), building)
    found_floor = _get(Floor.objects.filter(building__tenant=tenant).select_related("building"), floor)
    found_room = _get(Room.objects.filter(tenant=tenant).select_related("floor__building"), room)
    if found_floor and found_building and found_floor.building_id != found_building.pk:
        raise FilterError({"floor": "This floor is not in the chosen building."})
    if found_room and found_floor and found_room.floor_id != found_floor.pk:
        raise FilterError({"room": "This room is not on the chosen floor."})
    if found_room and found_building and found_room.floor.building_id != found_building.pk:
        raise FilterError({"room": "This room is not in the chosen building."})
    return found_building, found_floor, found_room


def _get(queryset: QuerySet[_Place], pk: int | None) -> _Place | None:
    if pk is None:
        return None
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404("No such place.")
    return found
