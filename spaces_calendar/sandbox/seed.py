"""The sandbox's demo tenant: a building with floors and rooms, so a new user has something to click through.

Every room is mapped to its Cisco Spaces location, and the Webex room to its workspace, as the fake Cisco Spaces
names them (:mod:`spaces_calendar.sandbox.config`): once Spaces is activated, occupancy reaches the rooms at once.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from spaces_calendar.core.models import Building, Floor, Membership, Role, Room, Tenant
from spaces_calendar.sandbox import config

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
            email = f"{name.lower()}@{config.DEMO_MAIL_DOMAIN}"
            room = Room.objects.filter(tenant=tenant, email=email).first()
            if room is None:
                room = Room.objects.create(floor=floor, name=name, email=email, capacity=capacity)
            _map_to_spaces(room, name)
    if admin_username:
        user = get_user_model().objects.get(username=admin_username)
        Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.ADMIN})
    return tenant


def _map_to_spaces(room: Room, name: str) -> None:
    """Fill in the Spaces location (and Webex workspace) of a demo room that has none; never overwrite a choice
    or take an id another room of the tenant already has."""
    wanted = {"spaces_location_id": config.spaces_location_id(name)}
    if name == config.WEBEX_ROOM:
        wanted["webex_workspace_id"] = config.WEBEX_WORKSPACE_ID
    others = Room.objects.filter(tenant_id=room.tenant_id).exclude(pk=room.pk)
    updates = {field: value for field, value in wanted.items()
               if not getattr(room, field) and not others.filter(**{field: value}).exists()}
    if updates:
        Room.objects.filter(pk=room.pk).update(**updates)
