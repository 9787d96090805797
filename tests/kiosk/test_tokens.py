"""Kiosk tokens: shown once, stored hashed, scoped to a tenant and its rooms on every kiosk URL, revocable."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from occupancy.kiosk import tokens
from occupancy.kiosk.models import KioskToken
from spaces_calendar.core.models import Role
from tests.factories import make_user

from .conftest import Kiosk

#: Every kiosk API URL, for the room/building/floor a test names.
API_URLS = [
    "/api/v1/rooms/{room}/status",
    "/api/v1/rooms/status?building={building}",
    "/api/v1/rooms/status?floor={floor}",
    "/api/v1/rooms/available?from={start}&to={end}&building={building}",
    "/api/v1/rooms/available?from={start}&to={end}&floor={floor}",
]


def urls(room, *, start=None, end=None):
    now = timezone.now()
    values = {"room": room.pk, "floor": room.floor_id, "building": room.floor.building_id,
              "start": _q(start or now + timezone.timedelta(hours=1)),
              "end": _q(end or now + timezone.timedelta(hours=2))}
    return [url.format(**values) for url in API_URLS]


def _q(moment) -> str:
    return moment.isoformat().replace("+", "%2B")


def test_the_token_is_returned_once_and_only_its_hash_is_stored(world):
    token, raw = tokens.issue_token(world.acme, "Lobby", rooms=[world.fjord])
    assert raw.startswith(f"kt_{token.prefix}_") and len(raw) == 3 + 8 + 1 + 43
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(KioskToken.objects.filter(pk=token.pk).values().get())


def test_a_token_needs_a_scope_within_its_own_tenant(world):
    with pytest.raises(tokens.ValidationError):
        tokens.issue_token(world.acme, "Nothing")
    with pytest.raises(tokens.ValidationError):
        tokens.issue_token(world.acme, "Theirs", rooms=[world.war_room])
    with pytest.raises(tokens.ValidationError):
        tokens.issue_token(world.globex, "Ours", building=world.hq)


@pytest.mark.parametrize("scope", ["rooms", "floor", "building"])
def test_a_token_reads_its_scope_on_every_kiosk_url(world, kiosk_for, scope):
    kiosk = kiosk_for(**{"rooms": {"rooms": [world.fjord]}, "floor": {"floor": world.first},
                         "building": {"building": world.hq}}[scope])
    for url in urls(world.fjord):
        response = kiosk.get(url)
        assert response.status_code == 200, url
        names = _names(response.json())
        assert "Fjord" in names and "War Room" not in names and "Dock" not in names, url


def test_a_room_token_sees_only_its_rooms_in_lists(world, kiosk_for):
    kiosk = kiosk_for(rooms=[world.fjord, world.harbor])
    assert _names(kiosk.get("/api/v1/rooms/status").json()) == ["Fjord", "Harbor"]
    available = kiosk.get(urls(world.fjord)[3].split("&building")[0]).json()
    assert _names(available) == ["Fjord", "Harbor"]


def test_scopes_add_up(world, kiosk_for):
    kiosk = kiosk_for(rooms=[world.dock], floor=world.second)
    assert _names(kiosk.get("/api/v1/rooms/status").json()) == ["Dock", "Harbor"]


def test_another_tenants_room_building_and_floor_are_not_found_on_every_kiosk_url(world, kiosk_for):
    kiosk = kiosk_for(building=world.hq)
    for url in urls(world.war_room):
        response = kiosk.get(url)
        assert response.status_code == 404, url
        assert "War Room" not in response.content.decode() and response.json()["detail"]


def test_an_out_of_scope_room_of_the_same_tenant_is_forbidden_and_never_listed(world, kiosk_for):
    kiosk = kiosk_for(floor=world.first)
    status = kiosk.get(f"/api/v1/rooms/{world.harbor.pk}/status")
    assert status.status_code == 403 and status.json() == {"detail": "This room is not in the kiosk token's scope."}
    for url in urls(world.dock)[1:]:  # lists filtered to the Annex: nothing of it
        response = kiosk.get(url)
        assert response.status_code == 200 and _names(response.json()) == [], url


def test_globex_tokens_read_nothing_of_acme(world, kiosk_for):
    kiosk = kiosk_for(world.globex, rooms=[world.war_room])
    for url in urls(world.fjord):
        assert kiosk.get(url).status_code == 404, url
    assert _names(kiosk.get("/api/v1/rooms/status").json()) == ["War Room"]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Token kt_abc", "Basic dXNlcjpwYXNz",
                                    "Bearer kt_00000000_" + "x" * 43, "Bearer not-a-token", "Bearer " + "k" * 5000])
def test_missing_malformed_and_unknown_tokens_are_401_on_every_kiosk_url(world, header):
    client = Client()
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    for url in urls(world.fjord):
        response = client.get(url, **extra)
        assert response.status_code == 401, (url, header)
        assert response["WWW-Authenticate"] == 'Bearer realm="kiosk"' and response.json()["detail"]


def test_a_wrong_secret_with_a_real_prefix_is_401(world):
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    assert Kiosk(forged).status(world.fjord).status_code == 401
    assert Kiosk(raw).status(world.fjord).status_code == 200


def test_a_revoked_token_stops_working_at_once_in_this_process(world):
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    kiosk = Kiosk(raw)
    assert kiosk.status(world.fjord).status_code == 200
    tokens.revoke_token(token)
    for url in urls(world.fjord):
        response = kiosk.get(url)
        assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_a_revocation_elsewhere_takes_effect_when_the_cache_entry_expires(world, settings):
    settings.KIOSK_TOKEN_CACHE_S = 0  # the bound: an entry is trusted this long
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    kiosk = Kiosk(raw)
    assert kiosk.status(world.fjord).status_code == 200
    KioskToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())  # another process revoked it
    assert kiosk.status(world.fjord).status_code == 401


def test_within_the_cache_time_another_process_revocation_is_not_seen_yet(world, settings):
    settings.KIOSK_TOKEN_CACHE_S = 60
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    kiosk = Kiosk(raw)
    assert kiosk.status(world.fjord).status_code == 200
    KioskToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert kiosk.status(world.fjord).status_code == 200  # documented: up to KIOSK_TOKEN_CACHE_S late


def test_last_used_is_recorded_but_not_on_every_poll(world):
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    kiosk = Kiosk(raw)
    kiosk.status(world.fjord)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    kiosk.status(world.fjord)
    token.refresh_from_db()
    assert token.last_used_at == first


def test_a_used_token_read_again_after_the_cache_forgot_it_still_works(world, settings):
    """Read again, the token has a last_used_at (the first poll wrote it), by both ways a poll reads a token."""
    settings.KIOSK_TOKEN_CACHE_S = 0
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    kiosk = Kiosk(raw)
    assert kiosk.status(world.fjord).status_code == 200  # token read in the room's query
    assert kiosk.status(world.fjord).status_code == 200
    assert kiosk.get("/api/v1/rooms/status").status_code == 200  # token read on its own
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_later_uses_are_written_together_at_most_once_a_minute(world, monkeypatch, settings):
    settings.KIOSK_TOKEN_CACHE_S = 1000  # remembered throughout: only the clock of last_used_at matters here
    clock = [1000.0]
    monkeypatch.setattr(tokens, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    (one, raw_one), (two, raw_two) = (tokens.issue_token(world.acme, name, building=world.hq) for name in "AB")
    for raw in (raw_one, raw_two):
        assert Kiosk(raw).status(world.fjord).status_code == 200  # first uses: written at once
    first = {token.pk: token.last_used_at for token in KioskToken.objects.all()}
    assert None not in first.values()

    clock[0] += 61  # a minute on: the next write takes what was used since
    Kiosk(raw_one).status(world.fjord)
    Kiosk(raw_two).status(world.fjord)
    second = {token.pk: token.last_used_at for token in KioskToken.objects.all()}
    assert second[one.pk] > first[one.pk] and second[two.pk] == first[two.pk]  # two waits for the next write

    clock[0] += 61
    Kiosk(raw_one).status(world.fjord)
    third = {token.pk: token.last_used_at for token in KioskToken.objects.all()}
    assert third[one.pk] > second[one.pk] and third[two.pk] > second[two.pk]


# --- the tenant admin's page --------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(world):
    client = Client()
    client.force_login(make_user(world.acme, Role.ADMIN))
    return client


def test_a_tenant_admin_creates_a_token_and_sees_it_once(world, admin_client):
    response = admin_client.post("/kiosk-tokens/", {"name": "Lobby A", "floor": world.first.pk})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = KioskToken.objects.get(name="Lobby A")
    raw = response.context["raw"]
    assert raw.startswith(f"kt_{token.prefix}_") and raw in response.content.decode()
    assert token.tenant == world.acme and token.floor == world.first and token.created_by is not None
    assert Kiosk(raw).status(world.glacier).status_code == 200

    listing = admin_client.get("/kiosk-tokens/").content.decode()
    assert "Lobby A" in listing and token.prefix in listing and raw not in listing


def test_the_page_refuses_other_tenants_places_and_an_empty_scope(world, admin_client):
    assert admin_client.post("/kiosk-tokens/", {"name": "X", "rooms": [world.war_room.pk]}).status_code == 400
    response = admin_client.post("/kiosk-tokens/", {"name": "X"})
    assert response.status_code == 400 and "Choose the rooms" in response.content.decode()
    assert not KioskToken.objects.exists()


def test_a_tenant_admin_revokes_a_token(world, admin_client):
    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    assert Kiosk(raw).status(world.fjord).status_code == 200
    response = admin_client.post(f"/kiosk-tokens/{token.pk}/revoke")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Kiosk(raw).status(world.fjord).status_code == 401


def test_the_page_is_for_tenant_admins_of_that_tenant_only(world):
    token, _raw = tokens.issue_token(world.globex, "Theirs", rooms=[world.war_room])
    viewer = Client()
    viewer.force_login(make_user(world.acme, Role.VIEWER))
    assert viewer.get("/kiosk-tokens/").status_code == 403
    assert Client().get("/kiosk-tokens/").status_code == 302  # to the login page
    acme_admin = Client()
    acme_admin.force_login(make_user(world.acme, Role.ADMIN))
    assert "Theirs" not in acme_admin.get("/kiosk-tokens/").content.decode()
    assert acme_admin.post(f"/kiosk-tokens/{token.pk}/revoke").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# --- the Django admin ---------------------------------------------------------------------------------------------

def test_the_django_admin_shows_a_tenant_admin_only_their_tokens_and_the_new_token_once(world):
    tokens.issue_token(world.globex, "Globex lobby", rooms=[world.war_room])
    tokens.issue_token(world.acme, "Acme lobby", rooms=[world.fjord])
    client = Client()
    client.force_login(make_user(world.acme, Role.ADMIN))
    listing = client.get("/admin/occupancy/kiosktoken/").content.decode()
    assert "Acme lobby" in listing and "Globex lobby" not in listing

    form = client.get("/admin/occupancy/kiosktoken/add/").content.decode()
    assert "Fjord" in form and "War Room" not in form
    response = client.post("/admin/occupancy/kiosktoken/add/", {"tenant": world.acme.pk, "name": "Admin made",
                                                                  "rooms": [world.glacier.pk]}, follow=True)
    assert response.status_code == 200
    token = KioskToken.objects.get(name="Admin made")
    message = next(str(m) for m in response.context["messages"] if "kt_" in str(m))
    raw = message.split(": ", 1)[1].split(" ")[0]
    assert raw.startswith(f"kt_{token.prefix}_") and Kiosk(raw).status(world.glacier).status_code == 200
    assert client.get(f"/admin/occupancy/kiosktoken/{token.pk}/change/").content.decode().count(raw) == 0


def test_the_django_admin_refuses_a_scope_of_another_tenant_and_revokes(world):
    client = Client()
    client.force_login(make_user(world.acme, Role.ADMIN))
    response = client.post("/admin/occupancy/kiosktoken/add/", {"tenant": world.acme.pk, "name": "Sneaky",
                                                                  "rooms": [world.war_room.pk]})
    assert response.status_code == 200 and not KioskToken.objects.filter(name="Sneaky").exists()

    token, raw = tokens.issue_token(world.acme, "Lobby", building=world.hq)
    client.post("/admin/occupancy/kiosktoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and Kiosk(raw).status(world.fjord).status_code == 401


def _names(body: dict) -> list[str]:
    """Room names in any kiosk answer: one status, a status list, or an availability list."""
    items = body.get("rooms", [body])
    return [item["room"]["name"] if "room" in item else item["name"] for item in items]
