"""What the Sensors page shows: every sensor source of a tenant, the room it is mapped to, a suggested room for the
unmapped ones, and the bulk "apply all suggested". Mapping itself goes through ``occupancy.sensors``.

A suggestion is a room of the same name, or of the same name once normalised (the normalisation the calendar
matching uses: accents, case, punctuation, filler words, building/floor prefixes). When several rooms fit, the
source's hierarchy ("Campus / HQ / Floor 3 / Fjord") naming a room's building and floor decides; when that leaves a
tie, there is no suggestion: an admin confirms each one, and a plausible wrong one is worse than none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from spaces_calendar.calendars.matching import normalise_name
from spaces_calendar.core.models import Floor, Room, Tenant

from .models import PendingSignal, SensorKind, SensorSource
from .sensors import KIND_LABEL, ROOM_FIELD, MappingError, map_source


@dataclass(frozen=True)
class SourceRow:
    kind: str
    key: str
    #: The catalogue entry; None for a source mapped by id that has not been heard from yet.
    source: SensorSource | None
    #: The room the source is mapped to.
    room: Room | None
    suggestion: Room | None = None
    suggestion_reason: str = ""
    #: Signals kept for it until it is mapped (mapping applies them).
    pending: int = 0
    #: Unmapped and sent data recently enough for mapping it now to apply that data.
    recent: bool = False

    @property
    def kind_label(self) -> str:
        return KIND_LABEL.get(self.kind, self.kind)

    @property
    def name(self) -> str:
        return self.source.name if self.source and self.source.name else self.key


@dataclass(frozen=True)
class SensorOverview:
    rows: list[SourceRow]
    rooms: list[Room]

    @property
    def suggested(self) -> list[SourceRow]:
        return [row for row in self.rows if row.suggestion is not None]

    @property
    def mapped_count(self) -> int:
        return sum(1 for row in self.rows if row.room is not None)


@dataclass
class BulkMapResult:
    mapped: int = 0
    #: Signals the new mappings brought along.
    adopted: int = 0
    failures: list[str] = field(default_factory=list)


def sensor_overview(tenant: Tenant, now: datetime | None = None) -> SensorOverview:
    """The tenant's sources: unmapped ones with recent data first (newest first), then the other unmapped ones,
    then the mapped ones; each unmapped one with a suggested room when there is an unambiguous one."""
    now = now or timezone.now()
    recent_after = now - timedelta(seconds=settings.OCCUPANCY_MAX_SIGNAL_AGE_S)
    rooms = list(Room.objects.filter(tenant=tenant).select_related("floor__building")
                 .order_by("floor__building__name", "floor__level", "floor__name", "name", "pk"))
    mapped = {(kind, getattr(room, attr)): room for room in rooms for kind, attr in ROOM_FIELD.items()
              if getattr(room, attr)}
    sources = {(source.kind, source.key): source for source in SensorSource.objects.filter(tenant=tenant)}
    pending = {(row["kind"], row["key"]): row["n"] for row in PendingSignal.objects.filter(tenant=tenant)
               .values("kind", "key").annotate(n=Count("id"))}
    matcher = _Matcher(rooms)
    unmapped = [source for ident, source in sources.items() if ident not in mapped]
    suggestions = matcher.suggest([source for source in unmapped if not source.removed])
    rows = [SourceRow(source.kind, source.key, source, None, *suggestions.get((source.kind, source.key), (None, "")),
                      pending=pending.get((source.kind, source.key), 0),
                      recent=source.last_signal_at is not None and source.last_signal_at >= recent_after)
            for source in unmapped]
    rows.sort(key=lambda row: (not row.recent, -(row.source.last_signal_at.timestamp()) if row.recent else 0,
                               row.source.hierarchy.casefold(), row.name.casefold()))
    rows += sorted((SourceRow(kind, key, sources.get((kind, key)), room) for (kind, key), room in mapped.items()),
                   key=lambda row: (row.room.name.casefold(), row.kind))
    return SensorOverview(rows, rooms)


def map_suggested(tenant: Tenant, now: datetime | None = None) -> BulkMapResult:
    """Map every unmapped source to its suggested room. Each mapping stands alone: one that is refused (someone
    mapped that room meanwhile) is reported and the others go ahead."""
    result = BulkMapResult()
    for row in sensor_overview(tenant, now).suggested:
        try:
            mapping = map_source(tenant, row.kind, row.key, row.suggestion, now)
        except MappingError as error:
            result.failures.append(f"{row.name}: {error}")
        else:
            result.mapped += 1
            result.adopted += mapping.adopted
    return result


class _Matcher:
    """Rooms indexed by name once; suggestions per kind of source, because a room takes one source of each kind."""

    def __init__(self, rooms: Iterable[Room]) -> None:
        self.by_name: dict[str, list[Room]] = defaultdict(list)
        self.by_normal: dict[str, list[Room]] = defaultdict(list)
        for room in rooms:
            self.by_name[_exact(room.name)].append(room)
            self.by_normal[normalise_name(room.name)].append(room)

    def suggest(self, sources: list[SensorSource]) -> dict[tuple[str, str], tuple[Room, str]]:
        picks: dict[tuple[str, str], tuple[Room, str, int]] = {}
        for source in sources:
            pick = self._best(source)
            if pick is not None:
                picks[(source.kind, source.key)] = pick
        # Two sources of one kind wanting the same room: the one whose hierarchy fits it better gets it, a tie none.
        wanted: dict[tuple[str, int], list[tuple[int, tuple[str, str]]]] = defaultdict(list)
        for ident, (room, _reason, score) in picks.items():
            wanted[(ident[0], room.pk)].append((score, ident))
        found = {}
        for (kind, _room_pk), suitors in wanted.items():
            suitors.sort(reverse=True)
            if len(suitors) > 1 and suitors[0][0] == suitors[1][0]:
                continue
            ident = suitors[0][1]
            room, reason, _score = picks[ident]
            if not getattr(room, ROOM_FIELD[kind]):  # a room with a source of this kind takes no second one
                found[ident] = (room, reason)
        return found

    def _best(self, source: SensorSource) -> tuple[Room, str, int] | None:
        if not source.name.strip() or not _may_be_a_room(source):
            return None
        places = {normalise_name(part) for part in source.hierarchy.split(" / ") if part.strip()}
        for reason, candidates in (("same name", self.by_name.get(_exact(source.name), [])),
                                   ("same name (normalised)", self.by_normal.get(normalise_name(source.name), []))):
            if not candidates:
                continue
            scored = sorted(((_fit(room, places), room) for room in candidates), key=lambda pair: -pair[0])
            if len(scored) > 1 and scored[0][0] == scored[1][0]:
                return None  # a tie the hierarchy does not break: no guess, and no weaker tier either
            score, room = scored[0]
            if len(scored) > 1:
                places_named = "building and floor" if score == 2 else "building or floor"
                reason += f"; its hierarchy names the room's {places_named}"
            return room, reason, score
        return None


def _may_be_a_room(source: SensorSource) -> bool:
    """A Spaces location typed as a building, floor or the like is not a room, whatever its name."""
    types = {kind.strip().upper() for kind in source.location_types.split(",") if kind.strip()}
    return not types or bool(types & _ROOM_TYPES)


_ROOM_TYPES = {"ZONE", "ROOM"}


def _exact(name: str) -> str:
    return " ".join(name.casefold().split())


def _fit(room: Room, places: set[str]) -> int:
    """How many of the room's building and floor the source's hierarchy names (0-2)."""
    floor: Floor = room.floor
    floor_names = {normalise_name(floor.name)}
    if floor.level is not None:
        floor_names |= {str(floor.level), f"floor {floor.level}", f"level {floor.level}"}
    return int(normalise_name(floor.building.name) in places) + int(bool(floor_names & places))


# Kinds the page offers in "add a source by id", in the order shown.
ADDABLE_KINDS = [(SensorKind.WEBEX_WORKSPACE, KIND_LABEL[SensorKind.WEBEX_WORKSPACE]),
                 (SensorKind.SPACES_LOCATION, KIND_LABEL[SensorKind.SPACES_LOCATION])]
