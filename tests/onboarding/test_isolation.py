"""Who may use each onboarding URL: anonymous users log in, viewers and users without a workplace are refused, and an
admin of another tenant neither sees nor changes anything of this one, at every URL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from occupancy.models import SensorSource
from spaces_calendar.calendars.models import CalendarConnection, CalendarLink, DiscoveredCalendar
from spaces_calendar.core.models import Building, Role, Room, Tenant
from tests.factories import make_room, make_tenant, make_user
from tests.microsoft.sync_helpers import connect

pytestmark = pytest.mark.django_db


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    connection: CalendarConnection
    fjord: Room
    glacier: Room
    war_room: Room


@pytest.fixture
def world(fake_microsoft, settings) -> World:
    settings.CALENDAR_SUBSCRIPTIONS = False
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    fake_microsoft.add_room("new-room@acme.example", "Acme Secret Lab", capacity=4, building="Acme Tower",
                            floorNumber=9)
    now = timezone.now()
    world = World(acme, globex, connect(acme, fake_microsoft),
                  make_room(acme, "Fjord", spaces_location_id="acme-fjord-loc"), make_room(acme, "Glacier"),
                  make_room(globex, "War Room"))
    DiscoveredCalendar.objects.create(connection=world.connection, external_id="new-room@acme.example",
                                      name="Acme Secret Lab", building="Acme Tower", floor="9")
    SensorSource.objects.create(tenant=acme, kind="spaces_location", key="acme-glacier-loc", name="Glacier",
                                hierarchy="Acme Campus / HQ / 1 / Glacier", first_seen_at=now, last_seen_at=now,
                                last_signal_at=now)
    return world


def urls(world: World) -> list[tuple[str, str, dict]]:
    """Every URL the onboarding pages added, with a request that would change Acme's data if it were let through."""
    return [
        ("get", reverse("workplace-new"), {}),
        ("post", reverse("workplace-new"), {"name": "Intruder", "time_zone": "UTC"}),
        ("get", reverse("calendar-rooms-import-start"), {}),
        ("get", reverse("calendar-rooms-import", args=["microsoft"]), {}),
        ("post", reverse("calendar-rooms-import", args=["microsoft"]), {"room": ["new-room@acme.example"]}),
        ("get", reverse("sensors"), {}),
        ("post", reverse("sensors-map"), {"kind": "spaces_location", "key": "acme-glacier-loc",
                                          "room": world.glacier.pk}),
        ("post", reverse("sensors-unmap", args=[world.fjord.pk]), {"kind": "spaces_location"}),
        ("post", reverse("sensors-apply-suggested"), {}),
    ]


def acme_unchanged(world: World) -> None:
    assert list(Tenant.objects.order_by("pk").values_list("name", flat=True)) == ["Acme", "Globex"]
    assert dict(Room.objects.filter(tenant=world.acme).values_list("name", "spaces_location_id")) == {
        "Fjord": "acme-fjord-loc", "Glacier": ""}
    assert not Building.objects.filter(name="Acme Tower").exists()
    assert not CalendarLink.objects.exists()


def test_anonymous_users_are_sent_to_log_in_from_every_url(client, world):
    for method, url, data in urls(world):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
    acme_unchanged(world)


def test_viewers_are_refused_at_every_url(client, world):
    client.force_login(make_user(world.acme, Role.VIEWER))
    for method, url, data in urls(world):
        assert getattr(client, method)(url, data).status_code == 403, url
    acme_unchanged(world)


def test_users_without_a_workplace_may_only_create_one(client, world):
    client.force_login(make_user(None))
    for method, url, data in urls(world)[2:]:
        assert getattr(client, method)(url, data).status_code == 403, url
    acme_unchanged(world)
    assert client.get(reverse("workplace-new")).status_code == 200


def test_an_admin_of_another_tenant_sees_and_changes_nothing_of_this_one(client, world):
    client.force_login(make_user(world.globex, Role.ADMIN))
    secrets = ["Acme", "Fjord", "Glacier", "acme-glacier-loc", "acme-fjord-loc", "new-room@acme.example"]
    for method, url, data in urls(world):
        response = getattr(client, method)(url, data, follow=method == "get")
        if url == reverse("workplace-new"):
            assert response.status_code == 403  # a member already
        elif "unmap" in url:
            assert response.status_code == 404, url  # Acme's room, looked up within Globex
        elif method == "post" and url == reverse("sensors-map"):
            assert response.status_code == 404, url
        else:
            assert response.status_code in (200, 302), url
        page = response.content.decode()
        leaked = [secret for secret in secrets if secret in page]
        assert not leaked, (url, leaked)
    acme_unchanged(world)
    assert not Room.objects.filter(tenant=world.globex).exclude(name="War Room").exists()
    assert 'data-testid="not-connected"' in client.get(reverse("calendar-rooms-import", args=["microsoft"])).text


def test_the_navigation_offers_each_page_to_those_who_may_use_it(client, world):
    links = {"workplace": f'href="{reverse("workplace-new")}"',
             "import": f'href="{reverse("calendar-rooms-import-start")}"',
             "sensors": f'href="{reverse("sensors")}"'}

    def offered(user) -> set[str]:
        client.force_login(user)
        page = client.get(reverse("home")).text
        return {name for name, link in links.items() if link in page}

    assert offered(make_user(None)) == {"workplace"}
    assert offered(make_user(world.acme, Role.VIEWER)) == set()
    assert offered(make_user(world.acme, Role.ADMIN)) == {"import", "sensors"}
