"""The room-linking pages end to end: our views and templates, the real Graph client, the fake Places API."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from spaces_calendar.calendars.models import (
    CalendarConnection,
    CalendarLink,
    ConnectionStatus,
    DiscoveredCalendar,
    Provider,
)
from spaces_calendar.core.models import Role
from spaces_calendar.sandbox.harness import Fault
from tests.factories import make_room, make_user

from .sync_helpers import connect

pytestmark = pytest.mark.django_db

ROOMS = reverse("calendar-rooms", args=["microsoft"])


@pytest.fixture
def acme(two_tenants, fake_microsoft):
    """Acme, connected to the fake Microsoft tenant, with rooms whose calendars the fake lists."""
    tenant = two_tenants["acme"]
    fake_microsoft.add_room("fjord@acme.example", "Fjord", capacity="12", building="HQ", floorNumber=3)
    fake_microsoft.add_room("hq-2-glacier@acme.example", "HQ-2-Glacier", capacity=6)
    fake_microsoft.add_room("unused@acme.example", "Broom cupboard")
    return {
        "tenant": tenant,
        "connection": connect(tenant, fake_microsoft),
        "fjord": make_room(tenant, "Fjord", email="fjord@acme.example"),
        "glacier": make_room(tenant, "Glacier"),
        "boardroom": two_tenants["acme_room"],
    }


@pytest.fixture
def admin(client, acme):
    client.force_login(make_user(acme["tenant"], Role.ADMIN))
    return client


def calendar(address: str) -> DiscoveredCalendar:
    return DiscoveredCalendar.objects.get(external_id=address)


def room_row(html: str, room) -> str:
    match = re.search(rf'<tr id="room-{room.pk}".*?</tr>', html, re.DOTALL)
    assert match, f"no row for {room.name}"
    return match.group(0)


def refreshed(client) -> str:
    response = client.post(reverse("calendar-rooms-refresh", args=["microsoft"]), follow=True)
    assert response.redirect_chain == [(ROOMS, 302)]
    return response.text


def test_the_page_lists_rooms_with_the_suggested_calendar_preselected_and_why(admin, acme):
    page = refreshed(admin)

    assert "Room list refreshed: 3 room calendar(s) listed, 3 new" in page
    fjord, glacier = calendar("fjord@acme.example"), calendar("hq-2-glacier@acme.example")
    fjord_row = room_row(page, acme["fjord"])
    assert f'<option value="{fjord.pk}" selected>' in fjord_row
    assert "same email" in fjord_row
    glacier_row = room_row(page, acme["glacier"])
    assert f'<option value="{glacier.pk}" selected>' in glacier_row
    assert "same name (normalised)" in glacier_row
    assert " selected>" not in room_row(page, acme["boardroom"])
    assert "Link all suggested (2)" in page
    unlinked = page[page.index('id="unlinked-calendars"'):]
    assert "unused@acme.example" in unlinked and "Broom cupboard" in unlinked


def test_refresh_follows_every_places_page(admin, acme, fake_microsoft):
    fake_microsoft.rooms_page_size = 2
    for n in range(4):
        fake_microsoft.add_room(f"extra{n}@acme.example", f"Extra {n}")

    page = refreshed(admin)

    assert "7 room calendar(s) listed, 7 new" in page
    assert DiscoveredCalendar.objects.filter(connection=acme["connection"]).count() == 7
    assert len(fake_microsoft.graph.requests_to(r"/v1\.0/places/microsoft\.graph\.room")) == 4
    assert all(f"extra{n}@acme.example" in page for n in range(4))


def test_a_hidden_room_can_be_added_by_email(admin, acme, fake_microsoft):
    fake_microsoft.add_room("secret@acme.example", "Secret", hidden=True)
    assert "secret@acme.example" not in refreshed(admin)

    response = admin.post(reverse("calendar-rooms-add", args=["microsoft"]), {"email": "Secret@Acme.example"},
                          follow=True)

    assert "Added" in response.text
    added = calendar("secret@acme.example")
    assert added.added_manually
    assert f'data-calendar="{added.pk}"' in response.text


def test_an_unknown_address_gets_a_clear_error(admin, acme):
    response = admin.post(reverse("calendar-rooms-add", args=["microsoft"]), {"email": "ghost@acme.example"},
                          follow=True)

    assert "No room calendar answers at ghost@acme.example" in response.text
    assert not DiscoveredCalendar.objects.filter(external_id="ghost@acme.example").exists()


def test_link_and_unlink_one_room(admin, acme):
    refreshed(admin)
    fjord_calendar = calendar("fjord@acme.example")

    response = admin.post(reverse("calendar-room-link", args=["microsoft", acme["glacier"].pk]),
                          {"calendar": fjord_calendar.pk}, follow=True)

    assert "Linked Glacier to Fjord" in response.text
    link = CalendarLink.objects.get(room=acme["glacier"])
    assert (link.connection, link.external_calendar_id) == (acme["connection"], "fjord@acme.example")
    row = room_row(response.text, acme["glacier"])
    assert 'data-linked="true"' in row and "fjord@acme.example" in row and 'data-action="unlink"' in row
    # The calendar is taken: it is offered to no other room and no longer listed as unlinked.
    assert f'<option value="{fjord_calendar.pk}"' not in response.text
    assert f'data-calendar="{fjord_calendar.pk}"' not in response.text

    response = admin.post(reverse("calendar-room-unlink", args=["microsoft", acme["glacier"].pk]), follow=True)

    assert "Unlinked Glacier" in response.text
    assert not CalendarLink.objects.filter(room=acme["glacier"]).exists()
    assert 'data-linked="false"' in room_row(response.text, acme["glacier"])


def test_linking_without_choosing_a_calendar_says_so(admin, acme):
    response = admin.post(reverse("calendar-room-link", args=["microsoft", acme["fjord"].pk]), {"calendar": ""},
                          follow=True)

    assert "Choose a calendar for Fjord first" in response.text
    assert not CalendarLink.objects.exists()


def test_a_calendar_already_linked_elsewhere_is_refused_with_a_reason(admin, acme):
    refreshed(admin)
    fjord_calendar = calendar("fjord@acme.example")
    admin.post(reverse("calendar-room-link", args=["microsoft", acme["fjord"].pk]), {"calendar": fjord_calendar.pk})

    response = admin.post(reverse("calendar-room-link", args=["microsoft", acme["glacier"].pk]),
                          {"calendar": fjord_calendar.pk}, follow=True)

    assert "is already linked to Fjord" in response.text
    assert not CalendarLink.objects.filter(room=acme["glacier"]).exists()


def test_link_all_suggested_links_every_room_with_a_suggestion(admin, acme):
    refreshed(admin)

    response = admin.post(reverse("calendar-rooms-link-suggested", args=["microsoft"]), follow=True)

    assert "Linked 2 room(s) to their suggested calendar" in response.text
    links = dict(CalendarLink.objects.values_list("room__name", "external_calendar_id"))
    assert links == {"Fjord": "fjord@acme.example", "Glacier": "hq-2-glacier@acme.example"}
    assert "Link all suggested" not in response.text


def test_revoked_consent_during_refresh_asks_the_admin_to_reconnect(admin, acme, fake_microsoft):
    fake_microsoft.revoke_consent()

    page = refreshed(admin)

    assert "no longer grants access: reconnect" in page
    acme["connection"].refresh_from_db()
    assert acme["connection"].status == ConnectionStatus.NEEDS_CONSENT
    assert 'data-testid="not-connected"' in page


def test_consent_revoked_after_a_token_was_issued_also_asks_to_reconnect(admin, acme, fake_microsoft):
    refreshed(admin)  # msal now holds a token; Graph itself will refuse it
    fake_microsoft.revoke_consent()

    page = refreshed(admin)

    assert "refused access (HTTP 403)" in page and "reconnect" in page
    assert DiscoveredCalendar.objects.filter(connection=acme["connection"]).count() == 3


@pytest.mark.parametrize(("fault", "message"), [
    (Fault(drop=True), "Could not reach Microsoft 365 (ConnectionError): try again later."),
    (Fault(status=429, retry_after="2.128"), "Microsoft 365 asked us to slow down: try again in a minute."),
])
def test_an_unreachable_or_throttling_graph_is_reported_readably(admin, acme, fake_microsoft, settings, fault, message):
    settings.OUTBOUND_MAX_RETRIES = 0
    fake_microsoft.graph.add_fault(fault, path=r"/v1\.0/places/microsoft\.graph\.room")

    page = refreshed(admin)

    assert message in page
    assert not DiscoveredCalendar.objects.exists()


def test_without_an_active_connection_the_page_says_so(admin, acme):
    CalendarConnection.objects.filter(pk=acme["connection"].pk).update(status=ConnectionStatus.NEEDS_CONSENT)

    page = admin.get(ROOMS).text

    assert 'data-testid="not-connected"' in page
    assert f'href="{reverse("integrations")}"' in page
    assert "Fjord" not in page
    response = admin.post(reverse("calendar-rooms-refresh", args=["microsoft"]), follow=True)
    assert "is not connected" in response.text


def test_the_integrations_tile_links_to_the_rooms_page_when_connected(admin, acme):
    assert f'href="{ROOMS}"' in admin.get(reverse("integrations")).text

    CalendarConnection.objects.filter(pk=acme["connection"].pk).update(status=ConnectionStatus.NEEDS_CONSENT)

    assert f'href="{ROOMS}"' not in admin.get(reverse("integrations")).text


def test_an_unknown_provider_is_not_found(admin, acme):
    assert admin.get(reverse("calendar-rooms", args=["webex"])).status_code == 404


def test_a_viewer_may_not_see_or_change_links(client, acme):
    client.force_login(make_user(acme["tenant"], Role.VIEWER))
    room = acme["fjord"].pk

    assert client.get(ROOMS).status_code == 403
    posts = [("calendar-rooms-refresh", []), ("calendar-rooms-add", []), ("calendar-rooms-link-suggested", []),
             ("calendar-room-link", [room]), ("calendar-room-unlink", [room])]
    for name, args in posts:
        assert client.post(reverse(name, args=["microsoft", *args])).status_code == 403, name
    assert not CalendarLink.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, acme):
    response = client.get(ROOMS)

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_posts_need_a_csrf_token(acme):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(acme["tenant"], Role.ADMIN))

    response = client.post(reverse("calendar-rooms-link-suggested", args=["microsoft"]))

    assert response.status_code == 403
    assert 'name="csrfmiddlewaretoken"' in client.get(ROOMS).text


def test_another_tenants_admin_sees_none_of_it_and_gets_404_for_its_ids(admin, acme, two_tenants, fake_microsoft):
    refreshed(admin)
    globex = two_tenants["globex"]
    CalendarConnection.objects.create(tenant=globex, provider=Provider.MICROSOFT, status=ConnectionStatus.ACTIVE,
                                      external_tenant_id=fake_microsoft.add_tenant())
    other = Client()
    other.force_login(make_user(globex, Role.ADMIN))
    acme_calendar = calendar("fjord@acme.example")
    globex_room = two_tenants["globex_room"]

    page = other.get(ROOMS).text

    assert "Globex War Room" in page
    assert not any(text in page for text in ("Acme Boardroom", "Glacier", "fjord@acme.example", "Broom cupboard"))
    assert other.post(reverse("calendar-room-link", args=["microsoft", acme["fjord"].pk]),
                      {"calendar": acme_calendar.pk}).status_code == 404
    assert other.post(reverse("calendar-room-link", args=["microsoft", globex_room.pk]),
                      {"calendar": acme_calendar.pk}).status_code == 404
    admin.post(reverse("calendar-room-link", args=["microsoft", acme["fjord"].pk]), {"calendar": acme_calendar.pk})
    assert other.post(reverse("calendar-room-unlink", args=["microsoft", acme["fjord"].pk])).status_code == 404
    assert CalendarLink.objects.get(room=acme["fjord"]).external_calendar_id == "fjord@acme.example"
    assert not CalendarLink.objects.filter(room=globex_room).exists()


def test_a_room_linked_through_another_provider_shows_that_link_and_no_controls(admin, acme):
    google = CalendarConnection.objects.create(tenant=acme["tenant"], provider=Provider.GOOGLE,
                                               status=ConnectionStatus.ACTIVE, external_tenant_id="C0123")
    CalendarLink.objects.create(connection=google, room=acme["boardroom"],
                                external_calendar_id="board@resource.example")

    row = room_row(admin.get(ROOMS).text, acme["boardroom"])

    assert "board@resource.example" in row and "via Google Workspace" in row
    assert "<select" not in row and 'data-action="unlink"' not in row
