"""What the sandbox page shows of the occupancy data arriving for a tenant's rooms: the latest state per source.

Read through the rooms' reverse relations (``source_states``, ``occupancy_signals``) rather than by importing the
occupancy models: ``spaces_calendar`` never imports ``occupancy``, and a page that only displays rows needs no more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from spaces_calendar.core.models import Room, Tenant


@dataclass(frozen=True)
class SourceState:
    source: str
    present: bool | None
    people: int | None
    observed_at: datetime


@dataclass(frozen=True)
class RoomOccupancy:
    name: str
    location_id: str
    workspace_id: str
    signals: int
    states: list[SourceState] = field(default_factory=list)


def room_occupancy(tenant: Tenant | None) -> list[RoomOccupancy]:
    """Every room of ``tenant`` mapped to a Spaces location or Webex workspace, with its latest signal per source."""
    if tenant is None:
        return []
    rooms = (
        Room.objects.filter(tenant=tenant)
        .filter(~Q(spaces_location_id="") | ~Q(webex_workspace_id=""))
        .annotate(signal_count=Count("occupancy_signals"))
        .prefetch_related("source_states")
        .order_by("floor__level", "name")
    )
    return [
        RoomOccupancy(room.name, room.spaces_location_id, room.webex_workspace_id, room.signal_count, [
            SourceState(state.get_source_display(), state.present, state.people_count, state.observed_at)
            for state in sorted(room.source_states.all(), key=lambda state: state.source)
        ])
        for room in rooms
    ]
