"""A small world for the kiosk tests: Acme with two floors and a building of its own, Globex next door."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from occupancy.intake import RoomKey, Signal, record
from occupancy.kiosk import memory, ratelimit, tokens
from spaces_calendar.calendars.models import Booking
from spaces_calendar.core.models import Building, Floor, Room, Tenant
from tests.factories import make_room, make_tenant

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Token, room, last-used and rate-limit memories are per process: one test's must not leak into the next."""
    tokens._cache.clear()
    tokens._touched.clear()
    tokens._flush_after[0] = 0.0
    ratelimit.forget()
    memory.forget()
    cache.clear()
    yield
    tokens._cache.clear()
    tokens._touched.clear()
    tokens._flush_after[0] = 0.0
    ratelimit.forget()
    memory.forget()
    cache.clear()


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    hq: Building
    first: Floor
    second: Floor
    annex: Building
    fjord: Room       # HQ floor 1, calendar and sensor
    glacier: Room     # HQ floor 1
    harbor: Room      # HQ floor 2
    dock: Room        # Annex
    war_room: Room    # Globex


@pytest.fixture
def world(db) -> World:
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    fjord = make_room(acme, "Fjord", capacity=8)
    glacier = make_room(acme, "Glacier", capacity=4)
    hq, first = fjord.floor.building, fjord.floor
    second = Floor.objects.create(building=hq, name="2", level=2)
    harbor = Room.objects.create(floor=second, name="Harbor", capacity=12)
    annex = Building.objects.create(tenant=acme, name="Annex", time_zone="Europe/Oslo")
    dock = Room.objects.create(floor=Floor.objects.create(building=annex, name="G"), name="Dock", capacity=6)
    war_room = make_room(globex, "War Room", capacity=20)
    return World(acme, globex, hq, first, second, annex, fjord, glacier, harbor, dock, war_room)


def book(room: Room, start: datetime, end: datetime, subject: str = "Planning", **fields) -> Booking:
    return Booking.objects.create(room=room, external_id=f"event-{next(_ids)}", start=start, end=end,
                                  subject=subject, **fields)


def sense(room: Room, *, at: datetime | None = None, present: bool | None = None, people: int | None = None,
          source: str = "webex") -> None:
    """A sensor reading through the real intake (so RoomSourceState moves as in production)."""
    result = record([Signal(RoomKey(room.tenant_id, "room", str(room.pk)), source, at or timezone.now(),
                            present=present, people_count=people)])
    assert result.accepted == 1


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class Kiosk:
    """A kiosk client: a Django test client that sends the token."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.client = Client()

    def get(self, path: str, **headers):
        return self.client.get(path, HTTP_AUTHORIZATION=f"Bearer {self.raw}", **headers)

    def status(self, room: Room, **headers):
        return self.get(f"/api/v1/rooms/{room.pk}/status", **headers)


@pytest.fixture
def kiosk_for(world):
    def make(tenant: Tenant | None = None, **scope) -> Kiosk:
        _token, raw = tokens.issue_token(tenant or world.acme, "Lobby", **scope)
        return Kiosk(raw)

    return make
