"""The sandbox's demo tenant: a building with floors and rooms, so a new user has something to click through."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from spaces_calendar.core.models import Building, Floor, Membership, Role, Room, Tenant

DEMO_TENANT_SLUG = "sandbox-demo"
DEMO_ROOMS = {
    # floor name, level: [(room name, capacity)]
    ("Ground floor", 0): [("Fjord", 12), ("Glacier", 6), ("Harbour", 4)],
    ("First floor", 1): [("Aurora", 8), ("Birch", 4), ("Cedar", 2)],
    ("Second floor", 2): [("Delta", 20), ("Ember", 6)],
}
#: Rooms whose calendars the fake Places does not list (hidden from the address list): "add room by email".
UNLISTED_ROOMS = {("Second floor", 2): [("Vault", 4)]}


@transaction.atomic
def seed_demo_tenant(admin_username: str | None = None) -> Tenant:
    """Create (or complete) the demo tenant; running it again changes nothing."""
    tenant, _ = Tenant.objects.get_or_create(
        slug=DEMO_TENANT_SLUG, defaults={"name": "Sandbox Demo Co", "time_zone": "Europe/Oslo"}
    )
    building, _ = Building.objects.get_or_create(
        tenant=tenant, name="Demo HQ", defaults={"address": "1 Sandbox Street, Oslo", "time_zone": "Europe/Oslo"}
    )
    for (floor_name, level), rooms in [*DEMO_ROOMS.items(), *UNLISTED_ROOMS.items()]:
        floor, _ = Floor.objects.get_or_create(building=building, name=floor_name, defaults={"level": level})
        for name, capacity in rooms:
            email = f"{name.lower()}@sandbox-demo.example.com"
            if not Room.objects.filter(tenant=tenant, email=email).exists():
                Room.objects.create(floor=floor, name=name, email=email, capacity=capacity)
    if admin_username:
        user = get_user_model().objects.get(username=admin_username)
        Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.ADMIN})
    return tenant
