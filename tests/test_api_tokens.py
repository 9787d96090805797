"""API tokens for the reports and bookings APIs (``Authorization: Token <key>``): only a hash is stored, the key is
shown once, each user manages their own on a page, and DRF's plaintext tokens are converted by a migration."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from spaces_calendar.api_tokens import tokens
from spaces_calendar.api_tokens.legacy import convert
from spaces_calendar.api_tokens.models import ApiToken
from spaces_calendar.core.models import Role
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
KEY = re.compile(r"at_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
APIS = ["api-bookings", "api-bookings-csv", "api-reports-ghost-bookings", "api-reports-utilization"]


def create_on_page(client, name: str = "Power BI") -> tuple[str, str]:
    """Create a token through the page; the key as the page shows it, and the page."""
    page = client.post(reverse("api-tokens"), {"name": name})
    assert page.status_code == 200, page.content
    [key] = set(KEY.findall(page.text))
    return key, page.text


def stored_row(token: ApiToken) -> list[str]:
    """Every column of the token's row, as the database holds it (not through the model)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table} WHERE id = %s", [token.pk])  # noqa: S608
        return [str(value) for value in cursor.fetchone()]


@pytest.fixture
def member(client):
    user = make_user(make_tenant("Acme"), Role.VIEWER)
    client.force_login(user)
    return user


def test_a_key_is_shown_once_and_the_database_holds_only_its_hash(client, member):
    key, page = create_on_page(client)

    token = ApiToken.objects.get(user=member)
    row = stored_row(token)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in value or key.rsplit("_", 1)[1] in value for value in row)
    assert token.prefix == key[3:11] and token.prefix in page and token.name == "Power BI"
    again = client.get(reverse("api-tokens")).text
    assert token.prefix in again and key not in again
    assert client.post(reverse("api-tokens"), {"name": "other"})["Cache-Control"] == "no-store"


@pytest.mark.parametrize("api", APIS)
def test_a_key_authenticates_the_reports_and_bookings_apis(client, client_factory, member, api):
    key, _ = create_on_page(client)

    answer = client_factory().get(reverse(api), HTTP_AUTHORIZATION=f"Token {key}")

    assert answer.status_code == 200, answer.content


@pytest.mark.parametrize("api", APIS)
def test_revoked_unknown_and_malformed_keys_answer_401(client, client_factory, member, api):
    key, _ = create_on_page(client)
    token = ApiToken.objects.get(user=member)
    assert client.post(reverse("api-token-revoke", args=[token.pk])).status_code == 302
    api_client = client_factory()

    for header in (f"Token {key}", f"Token {key[:-1]}x", "Token not-a-token", "Token "):
        answer = api_client.get(reverse(api), HTTP_AUTHORIZATION=header)
        assert answer.status_code == 401, (header, answer.status_code)
    assert api_client.get(reverse(api)).status_code in (401, 403)
    assert "Revoked" in client.get(reverse("api-tokens")).text


def test_the_page_shows_when_a_key_was_last_used(client, client_factory, member):
    key, _ = create_on_page(client)
    assert ApiToken.objects.get(user=member).last_used_at is None

    client_factory().get(reverse("api-bookings"), HTTP_AUTHORIZATION=f"Token {key}")

    assert ApiToken.objects.get(user=member).last_used_at is not None
    assert "Never" not in client.get(reverse("api-tokens")).text


def test_each_user_sees_and_revokes_only_their_own_tokens(client, client_factory, member):
    key, _ = create_on_page(client, "Acme integration")
    mine = ApiToken.objects.get(user=member)
    same_tenant, other_tenant = make_user(member.memberships.get().tenant, Role.ADMIN), make_user(
        make_tenant("Globex"), Role.ADMIN, is_superuser=True)

    for intruder in (same_tenant, other_tenant):
        browser = client_factory()
        browser.force_login(intruder)
        page = browser.get(reverse("api-tokens")).text
        assert "Acme integration" not in page and mine.prefix not in page
        assert browser.post(reverse("api-token-revoke", args=[mine.pk])).status_code == 404
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is None
    assert client_factory().get(reverse("api-bookings"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_the_page_is_for_signed_in_users(client):
    for response in (client.get(reverse("api-tokens")), client.post(reverse("api-tokens"), {"name": "x"})):
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not ApiToken.objects.exists()


def test_a_name_is_required(client, member):
    page = client.post(reverse("api-tokens"), {"name": ""})

    assert page.status_code == 400 and not KEY.search(page.text) and not ApiToken.objects.exists()


def test_the_command_prints_a_key_once_and_stores_its_hash(client_factory, member):
    out = io.StringIO()

    call_command("create_api_token", member.username, "--name", "cron export", stdout=out)

    [key] = KEY.findall(out.getvalue())
    token = ApiToken.objects.get(user=member)
    assert token.name == "cron export" and token.key_hash == tokens.hash_key(key)
    assert not any(key in value for value in stored_row(token))
    assert client_factory().get(reverse("api-bookings"), HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_the_command_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody")


def test_drf_create_token_is_gone():
    """DRF's command stored keys in plaintext: the app that brought it is no longer installed."""
    with pytest.raises(CommandError, match="Unknown command"):
        call_command("drf_create_token", "anyone")


def test_drf_plaintext_tokens_are_converted_so_integrations_keep_working(client_factory, member):
    legacy = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's format: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp with time zone"
                       " NOT NULL, user_id integer NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, CURRENT_TIMESTAMP, %s)", [legacy, member.pk])
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', "
                       "CURRENT_TIMESTAMP)")

    assert convert(connection) == 1

    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone()[0] == 0
    token = ApiToken.objects.get(user=member)
    assert token.key_hash == tokens.hash_key(legacy) and token.prefix == legacy[:8]
    assert not any(legacy in value for value in stored_row(token))
    answer = client_factory().get(reverse("api-bookings"), HTTP_AUTHORIZATION=f"Token {legacy}")
    assert answer.status_code == 200


def test_converting_without_drf_tokens_does_nothing():
    assert convert(connection) == 0

    assert not ApiToken.objects.exists()
