"""Rooms free for an interval: no live booking overlaps it and, when it starts about now, nobody is in the room.
An interval of no length (``from`` == ``to``) is an instant: rooms free at that moment.

A room whose occupancy is unknown counts as free (the calendar says so and we cannot see otherwise); an occupied
room is left out only when the interval starts within ``NOW_ISH`` of now, since who is in a room now says nothing
about tomorrow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from occupancy.fusion import OCCUPIED, Reading
from occupancy.models import RoomSourceState
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Room

from .params import AvailabilityQuery
from .status import isoformat, occupancy_now, room_reference
from .tokens import KioskGrant

NOW_ISH = timedelta(minutes=5)


def rooms_in_scope(grant: KioskGrant) -> QuerySet[Room]:
    scope = Q(pk__in=grant.room_ids) | Q(floor_id__in=grant.floor_ids) | Q(floor__building_id__in=grant.building_ids)
    return Room.objects.filter(scope, tenant_id=grant.tenant_id)


def available_rooms(grant: KioskGrant, query: AvailabilityQuery, now: datetime) -> list[Room]:
    rooms = rooms_in_scope(grant)
    if query.building_id is not None:
        rooms = rooms.filter(floor__building_id=query.building_id)
    if query.floor_id is not None:
        rooms = rooms.filter(floor_id=query.floor_id)
    if query.capacity is not None:
        rooms = rooms.filter(capacity__gte=query.capacity)
    # An interval [from, to) overlaps bookings starting before its end; an instant (from == to) asks whether the
    # room is free at that moment, so a booking starting right then takes it.
    starts_before = Q(start__lt=query.end) if query.end > query.start else Q(start__lte=query.start)
    booked = Booking.objects.filter(starts_before & Q(end__gt=query.start) & Q(end__gt=F("start")),
                                    room_id=OuterRef("pk"), cancelled=False)
    candidates = list(rooms.exclude(Exists(booked)).select_related("floor__building").order_by("name", "pk"))
    if query.start <= now + NOW_ISH:
        occupied = occupied_now([room.pk for room in candidates], now)
        candidates = [room for room in candidates if room.pk not in occupied]
    return candidates


def occupied_now(room_ids: list[int], now: datetime) -> set[int]:
    readings: dict[int, list[Reading]] = {}
    for room_id, source, observed_at, present, people in RoomSourceState.objects.filter(
            room_id__in=room_ids).values_list("room_id", "source", "observed_at", "present", "people_count"):
        readings.setdefault(room_id, []).append(Reading(source, observed_at, present, people))
    return {room_id for room_id, items in readings.items() if occupancy_now(items, now).state == OCCUPIED}


def availability_document(query: AvailabilityQuery, rooms: list[Room]) -> dict:
    return {
        "from": isoformat(query.start),
        "to": isoformat(query.end),
        "capacity": query.capacity,
        "rooms": [room_reference(room) for room in rooms],
    }

