"""What the room-linking page shows (rooms, their links, suggestions, calendars nobody uses) and the bulk link."""

from __future__ import annotations

from dataclasses import dataclass, field

from spaces_calendar.core.models import Room

from .linking import LinkError, link_calendar
from .matching import Suggestion, suggest_matches
from .models import CalendarConnection, CalendarLink, DiscoveredCalendar


@dataclass(frozen=True)
class RoomRow:
    room: Room
    #: The room's link, possibly to another provider's connection (then ``linked_here`` is False).
    link: CalendarLink | None
    linked_here: bool
    #: The discovered calendar the link points at, when this connection knows it.
    linked_calendar: DiscoveredCalendar | None
    suggestion: Suggestion | None


@dataclass(frozen=True)
class LinkingOverview:
    connection: CalendarConnection
    rows: list[RoomRow]
    #: Discovered calendars no room of this connection is linked to: what the selects offer.
    unlinked_calendars: list[DiscoveredCalendar]

    @property
    def suggested_count(self) -> int:
        return sum(1 for row in self.rows if row.suggestion is not None)

    @property
    def linked_count(self) -> int:
        return sum(1 for row in self.rows if row.linked_here)


@dataclass
class BulkLinkResult:
    linked: int = 0
    #: One readable reason per suggestion that could not be linked.
    failures: list[str] = field(default_factory=list)


def linking_overview(connection: CalendarConnection) -> LinkingOverview:
    """Every room of the connection's tenant with its link or a suggestion, in building/floor/name order."""
    rooms = list(
        Room.objects.filter(tenant_id=connection.tenant_id)
        .select_related("floor__building", "calendar_link__connection")
        .order_by("floor__building__name", "floor__level", "floor__name", "name", "pk")
    )
    calendars = list(DiscoveredCalendar.objects.filter(connection=connection))
    linked_ids = set(CalendarLink.objects.filter(connection=connection).values_list("external_calendar_id", flat=True))
    unlinked_calendars = [calendar for calendar in calendars if calendar.external_id not in linked_ids]
    unlinked_rooms = [room for room in rooms if _link_of(room) is None]
    suggestions = suggest_matches(unlinked_rooms, unlinked_calendars, linked=linked_ids)
    by_address = {calendar.external_id: calendar for calendar in calendars}
    rows = []
    for room in rooms:
        link = _link_of(room)
        here = link is not None and link.connection_id == connection.pk
        rows.append(RoomRow(room, link, here, by_address.get(link.external_calendar_id) if here else None,
                            suggestions.get(room.pk)))
    return LinkingOverview(connection, rows, unlinked_calendars)


def link_suggested(connection: CalendarConnection) -> BulkLinkResult:
    """Link every unlinked room to its suggested calendar. Each link stands alone: one that fails (someone
    linked that calendar meanwhile) is reported and the others go ahead."""
    result = BulkLinkResult()
    for row in linking_overview(connection).rows:
        if row.suggestion is None or row.link is not None:
            continue
        try:
            link_calendar(row.room, row.suggestion.calendar)
        except LinkError as error:
            result.failures.append(f"{row.room.name}: {error}")
        else:
            result.linked += 1
    return result


def _link_of(room: Room) -> CalendarLink | None:
    # The reverse one-to-one raises (an AttributeError subclass) when there is no link; getattr turns that into None.
    return getattr(room, "calendar_link", None)
