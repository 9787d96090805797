"""Small builders for test data (plain functions: the models are simple enough not to need a factory library)."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from spaces_calendar.core.models import Building, Floor, Membership, Role, Room, Tenant

_seq = itertools.count(1)


def make_tenant(name: str | None = None) -> Tenant:
    n = next(_seq)
    name = name or f"Tenant {n}"
    return Tenant.objects.create(name=name, slug=f"{name.lower().replace(' ', '-')}-{n}", time_zone="Europe/Oslo")


def make_room(tenant: Tenant, name: str | None = None, **fields) -> Room:
    building, _ = Building.objects.get_or_create(tenant=tenant, name="HQ", defaults={"time_zone": "Europe/Oslo"})
    floor, _ = Floor.objects.get_or_create(building=building, name="1", defaults={"level": 1})
    n = next(_seq)
    name = name or f"Room {n}"
    fields.setdefault("email", f"room{n}@{tenant.slug}.example.com")
    return Room.objects.create(floor=floor, name=name, **fields)


def make_user(tenant: Tenant | None = None, role: str = Role.VIEWER, *, staff: bool = True, **fields):
    n = next(_seq)
    user = get_user_model().objects.create_user(
        username=fields.pop("username", f"user{n}"), password="correct horse battery", is_staff=staff, **fields
    )
    if tenant is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user
