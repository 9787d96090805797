"""Import rooms from a connection's calendar directory: buildings, floors and rooms are created and linked in one step.

:func:`plan` reads what the provider lists (every page, through the discovered calendars the Rooms page uses too)
and says for each room calendar whether we already have a room with that address and what importing it would
create. :func:`apply` creates what the admin ticked and links each room to its calendar with ``link_calendar``,
the function behind "Link" on the Rooms page, so the first sync and the change subscription are queued alike.

Rooms are matched by address only (names are not unique, addresses are): importing twice creates nothing new, and
an existing room changes only when the admin asks for its name and capacity to be taken from the directory.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from spaces_calendar.core.models import Building, Floor, Room

from .discovery import DiscoveryResult, refresh_calendars
from .linking import LinkError, link_calendar
from .models import CalendarConnection, CalendarLink, DiscoveredCalendar

logger = logging.getLogger(__name__)

DEFAULT_BUILDING = "Main building"
DEFAULT_FLOOR = "Unassigned floor"
#: The form key of the building that rooms without one go to (the others' keys derive from their names).
FALLBACK_KEY = "fallback"

_BUILDING_NAME = Building._meta.get_field("name").max_length
_FLOOR_NAME = Floor._meta.get_field("name").max_length
_ROOM_NAME = Room._meta.get_field("name").max_length


class RoomState:
    #: No room has this address: importing creates one and links it.
    NEW = "new"
    #: A room has this address but no calendar: importing links it.
    UNLINKED = "unlinked"
    #: The room with this address is linked to this very calendar: nothing to do.
    LINKED = "linked"
    #: The calendar or the room is linked elsewhere: importing leaves both alone.
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class PlannedRoom:
    calendar: DiscoveredCalendar
    name: str
    capacity: int | None
    state: str
    #: Our room with the calendar's address, if any.
    room: Room | None = None
    #: Why an ELSEWHERE row is left alone, for the admin.
    note: str = ""

    @property
    def email(self) -> str:
        return self.calendar.external_id

    @property
    def importable(self) -> bool:
        return self.state in (RoomState.NEW, RoomState.UNLINKED)

    @property
    def changes(self) -> list[str]:
        """What taking the directory's name and capacity would change on the existing room."""
        if self.room is None:
            return []
        found = []
        if self.calendar.name and self.name != self.room.name:
            found.append(f"name “{self.room.name}” → “{self.name}”")
        if self.capacity is not None and self.capacity != self.room.capacity:
            found.append(f"capacity {self.room.capacity if self.room.capacity is not None else '–'} → {self.capacity}")
        return found


@dataclass
class PlannedFloor:
    name: str
    level: int | None
    #: The floor of that name (or level) the building already has.
    floor: Floor | None
    rooms: list[PlannedRoom] = field(default_factory=list)

    @property
    def creates(self) -> bool:
        return self.floor is None and any(item.state == RoomState.NEW for item in self.rooms)


@dataclass
class PlannedBuilding:
    key: str
    name: str
    building: Building | None
    #: The existing building's zone, else the tenant's: the default the review page offers.
    time_zone: str
    #: Its name came from the admin (rooms the directory gave no building), not from the directory.
    fallback: bool
    floors: list[PlannedFloor] = field(default_factory=list)

    @property
    def creates(self) -> bool:
        return self.building is None and any(floor.creates for floor in self.floors)


@dataclass
class ImportPlan:
    connection: CalendarConnection
    buildings: list[PlannedBuilding]
    fallback_building: str
    fallback_floor: str
    #: What the directory refresh found, when the plan asked the provider.
    discovery: DiscoveryResult | None = None

    @property
    def rooms(self) -> Iterator[PlannedRoom]:
        for building in self.buildings:
            for floor in building.floors:
                yield from floor.rooms

    def count(self, state: str) -> int:
        return sum(1 for item in self.rooms if item.state == state)

    @property
    def new_buildings(self) -> list[PlannedBuilding]:
        return [building for building in self.buildings if building.creates]

    @property
    def new_floor_count(self) -> int:
        return sum(1 for building in self.buildings for floor in building.floors if floor.creates)

    @property
    def uses_fallback(self) -> bool:
        return any(building.fallback for building in self.buildings) or any(
            floor.name == self.fallback_floor for building in self.buildings for floor in building.floors)


@dataclass(frozen=True)
class ImportChoices:
    #: Addresses of the rows to import: a NEW one is created and linked, an UNLINKED one linked.
    rooms: frozenset[str] = frozenset()
    #: Addresses of existing rooms whose name and capacity are taken from the directory.
    update: frozenset[str] = frozenset()
    #: Time zone per building key, for the buildings the import creates (default: the plan's).
    time_zones: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    buildings: int = 0
    floors: int = 0
    rooms: int = 0
    updated: int = 0
    linked: int = 0
    #: One readable reason per room that could not be created or linked.
    failures: list[str] = field(default_factory=list)


def plan(
    connection: CalendarConnection,
    *,
    fallback_building: str = DEFAULT_BUILDING,
    fallback_floor: str = DEFAULT_FLOOR,
    refresh: bool = True,
) -> ImportPlan:
    """What importing the connection's room calendars would do, grouped by building and floor.

    ``refresh`` first brings the discovered calendars in line with the provider's list (raising the provider's
    ``ConsentRevoked`` or ``OutboundError`` like the Rooms page's refresh); without it the plan is built from the
    calendars already discovered, which is what an import applies: exactly what the admin reviewed."""
    discovery = refresh_calendars(connection) if refresh else None
    fallback_building = _clean(fallback_building, _BUILDING_NAME) or DEFAULT_BUILDING
    fallback_floor = _clean(fallback_floor, _FLOOR_NAME) or DEFAULT_FLOOR
    tenant = connection.tenant
    rooms = {room.email: room for room in Room.objects.filter(tenant=tenant).exclude(email="")
             .select_related("floor__building", "calendar_link")}
    linked = {link.external_calendar_id: link for link in
              CalendarLink.objects.filter(connection=connection).select_related("room")}
    buildings = {building.name.casefold(): building for building in
                 Building.objects.filter(tenant=tenant).prefetch_related("floors")}
    groups: dict[str, PlannedBuilding] = {}
    for calendar in DiscoveredCalendar.objects.filter(connection=connection):
        name = _clean(calendar.building, _BUILDING_NAME)
        building_name = name or fallback_building
        group = groups.get(building_name.casefold())
        if group is None:
            existing = buildings.get(building_name.casefold())
            group = groups[building_name.casefold()] = PlannedBuilding(
                key=_key(name) if name else FALLBACK_KEY, name=existing.name if existing else building_name,
                building=existing, time_zone=existing.time_zone if existing else tenant.time_zone, fallback=not name)
        elif name and group.fallback:  # the admin named the fallback after a directory building: the same one
            group.key, group.fallback = _key(name), False
        floor_name, level = _floor_of(calendar.floor, fallback_floor)
        _floor_group(group, floor_name, level).rooms.append(_planned(calendar, rooms, linked))
    ordered = sorted(groups.values(), key=lambda group: (group.fallback, group.name.casefold()))
    for group in ordered:
        group.floors.sort(key=lambda floor: (floor.name == fallback_floor, floor.level is None, floor.level or 0,
                                             floor.name.casefold()))
        for floor in group.floors:
            floor.rooms.sort(key=lambda item: (item.name.casefold(), item.email))
    return ImportPlan(connection, ordered, fallback_building, fallback_floor, discovery)


def apply(import_plan: ImportPlan, choices: ImportChoices) -> ImportResult:
    """Create the chosen rooms (with their building and floor when new) and link each to its calendar; update the
    existing rooms the admin asked for. One transaction: the first syncs are queued when it commits."""
    result = ImportResult()
    tenant = import_plan.connection.tenant
    with transaction.atomic():
        for group in import_plan.buildings:
            building = group.building
            for planned_floor in group.floors:
                floor = planned_floor.floor
                for item in planned_floor.rooms:
                    if item.room is not None and item.email in choices.update:
                        result.updated += _update(item)
                    if not item.importable or item.email not in choices.rooms:
                        continue
                    room = item.room
                    if room is None:
                        if building is None:
                            building = _building(tenant, group, choices.time_zones.get(group.key), result)
                        if floor is None:
                            floor = _floor(building, planned_floor, result)
                        room = _create_room(floor, item, result)
                    if room is not None:
                        _link(room, item.calendar, result)
    logger.info("room import for connection %s: %s", import_plan.connection.pk, result)
    return result


# --- planning -----------------------------------------------------------------------------------------------------

def _planned(calendar: DiscoveredCalendar, rooms: dict[str, Room],
             linked: dict[str, CalendarLink]) -> PlannedRoom:
    name = _clean(calendar.name, _ROOM_NAME) or calendar.external_id.split("@")[0][:_ROOM_NAME]
    room = rooms.get(calendar.external_id)
    link = linked.get(calendar.external_id)
    state, note = RoomState.NEW, ""
    if link is not None and (room is None or link.room_id != room.pk):
        state, note = RoomState.ELSEWHERE, f"its calendar is linked to {link.room.name}"
    elif room is not None:
        room_link = getattr(room, "calendar_link", None)  # the reverse one-to-one raises when there is none
        if room_link is None:
            state = RoomState.UNLINKED
        elif link is not None:
            state = RoomState.LINKED
        else:
            state, note = RoomState.ELSEWHERE, f"{room.name} is linked to {room_link.external_calendar_id}"
    return PlannedRoom(calendar, name, calendar.capacity, state, room, note)


def _floor_group(group: PlannedBuilding, name: str, level: int | None) -> PlannedFloor:
    for planned in group.floors:
        if planned.name.casefold() == name.casefold():
            return planned
    existing = _existing_floor(list(group.building.floors.all()) if group.building else [], name, level)
    planned = PlannedFloor(existing.name if existing else name, existing.level if existing else level, existing)
    group.floors.append(planned)
    return planned


def _floor_of(value: str, fallback: str) -> tuple[str, int | None]:
    """A floor's name and level from the directory's: Places gives a number ("3" becomes "Floor 3", level 3)."""
    text = _clean(value, _FLOOR_NAME)
    if not text:
        return fallback, None
    try:
        level = int(text)
    except ValueError:
        return text, None
    return f"Floor {level}", level


def _existing_floor(floors: list[Floor], name: str, level: int | None) -> Floor | None:
    """The building's floor of that name, else the one floor at that level (a floor typed in as "3" or "Third")."""
    wanted = {name.casefold()} | ({str(level)} if level is not None else set())
    by_name = [floor for floor in floors if floor.name.casefold() in wanted]
    if by_name:
        return by_name[0]
    at_level = [floor for floor in floors if level is not None and floor.level == level]
    return at_level[0] if len(at_level) == 1 else None


def _key(name: str) -> str:
    # A stable form field name per directory building, whatever characters its name has.
    return "b" + hashlib.sha256(name.casefold().encode()).hexdigest()[:12]


def _clean(value: str, length: int) -> str:
    return " ".join((value or "").split())[:length]


# --- applying -----------------------------------------------------------------------------------------------------

def _building(tenant, group: PlannedBuilding, time_zone: str | None, result: ImportResult) -> Building:
    # Looked up again rather than trusted from the plan: a plan applied twice (a form submitted twice) or an import
    # running alongside may have created it since.
    existing = Building.objects.filter(tenant=tenant, name__iexact=group.name).first()
    if existing is not None:
        return existing
    building = Building.objects.create(tenant=tenant, name=group.name, time_zone=time_zone or group.time_zone)
    result.buildings += 1
    return building


def _floor(building: Building, planned: PlannedFloor, result: ImportResult) -> Floor:
    existing = _existing_floor(list(Floor.objects.filter(building=building)), planned.name, planned.level)
    if existing is not None:
        return existing
    floor = Floor.objects.create(building=building, name=planned.name, level=planned.level)
    result.floors += 1
    return floor


def _create_room(floor: Floor, item: PlannedRoom, result: ImportResult) -> Room | None:
    """A new room for the calendar; the room that has its address by now (a second import running at the same
    time) if there is one, so a room is never created twice."""
    existing = Room.objects.filter(tenant_id=floor.building.tenant_id, email=item.email).first()
    if existing is not None:
        return None if hasattr(existing, "calendar_link") else existing
    try:
        with transaction.atomic():
            room = Room.objects.create(floor=floor, name=item.name, email=item.email, capacity=item.capacity)
    except IntegrityError:
        result.failures.append(f"{item.name}: a room with the address {item.email} was just created elsewhere.")
        return None
    result.rooms += 1
    return room


def _update(item: PlannedRoom) -> int:
    if not item.changes:
        return 0
    fields = {"name": item.name} if item.calendar.name else {}
    if item.capacity is not None:
        fields["capacity"] = item.capacity
    return Room.objects.filter(pk=item.room.pk).update(**fields)


def _link(room: Room, calendar: DiscoveredCalendar, result: ImportResult) -> None:
    try:
        link_calendar(room, calendar)
    except LinkError as error:
        result.failures.append(f"{room.name}: {error}")
    else:
        result.linked += 1
