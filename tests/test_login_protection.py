"""Brute-force protection of both sign-in forms (django-axes): a username is locked from one address after
``LOGIN_FAILURE_LIMIT`` wrong passwords in a row, for ``LOGIN_LOCKOUT_S``; admins are told."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.urls import reverse

from spaces_calendar.core.models import Role
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"  # tests.factories.make_user's
LOGIN_URLS = ["/accounts/login/", "/admin/login/"]
ATTACKER, COLLEAGUE = "203.0.113.7", "198.51.100.20"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(hours=1)


def sign_in(client, url: str, username: str, password: str, address: str = ATTACKER):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, url: str, username: str, times: int, address: str = ATTACKER) -> list:
    return [sign_in(client, url, username, f"wrong {attempt}", address) for attempt in range(times)]


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_after_five_wrong_passwords_the_right_one_is_refused_with_a_message(client, url):
    user = make_user(make_tenant(), Role.ADMIN, username="alice")

    answers = fail(client, url, "alice", 5)
    refused = sign_in(client, url, "alice", PASSWORD)

    assert [answer.status_code for answer in answers[:4]] == [200] * 4  # the form again, with its error
    assert answers[4].status_code == 429
    assert refused.status_code == 429 and not signed_in(client)
    assert "Too many failed sign-ins" in refused.text
    assert "alice" in refused.text and "until" in refused.text
    assert "ask an admin" in refused.text.lower()
    assert user.last_login is None


def test_four_wrong_passwords_do_not_lock_and_a_success_starts_the_count_again(client):
    make_user(make_tenant(), username="bob")

    fail(client, "/accounts/login/", "bob", 4)
    assert sign_in(client, "/accounts/login/", "bob", PASSWORD).status_code == 302 and signed_in(client)
    client.logout()
    fail(client, "/accounts/login/", "bob", 4)

    assert sign_in(client, "/accounts/login/", "bob", PASSWORD).status_code == 302 and signed_in(client)


def test_the_lock_is_per_account_and_address(client, client_factory):
    """An attacker cannot lock a colleague out from elsewhere, nor lock a whole office behind one address."""
    make_user(make_tenant(), username="alice")
    make_user(make_tenant(), username="carol")
    fail(client, "/accounts/login/", "alice", 5)

    same_account_elsewhere, other_account_here = client_factory(), client_factory()
    elsewhere = sign_in(same_account_elsewhere, "/accounts/login/", "alice", PASSWORD, COLLEAGUE)
    here = sign_in(other_account_here, "/admin/login/", "carol", PASSWORD, ATTACKER)

    assert elsewhere.status_code == 302 and signed_in(same_account_elsewhere)
    assert here.status_code == 302 and signed_in(other_account_here)
    assert sign_in(client, "/accounts/login/", "alice", PASSWORD).status_code == 429


def test_the_lock_lifts_after_the_cool_off(client, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    make_user(make_tenant(), username="alice")
    fail(client, "/accounts/login/", "alice", 5)
    assert sign_in(client, "/accounts/login/", "alice", PASSWORD).status_code == 429
    locked_at = AccessAttempt.objects.get(username="alice").attempt_time.timestamp()

    time.sleep(max(0.0, locked_at + 2.05 - time.time()))
    answer = sign_in(client, "/accounts/login/", "alice", PASSWORD)

    assert answer.status_code == 302 and signed_in(client)


def test_an_admin_can_lift_a_lock_at_once(client):
    make_user(make_tenant(), username="alice")
    fail(client, "/accounts/login/", "alice", 5)

    assert reset(username="alice") == 1

    assert sign_in(client, "/accounts/login/", "alice", PASSWORD).status_code == 302 and signed_in(client)


def test_a_lockout_is_logged_as_a_warning_without_the_password(client, caplog):
    make_user(make_tenant(), username="alice")

    with caplog.at_level(logging.WARNING, logger="spaces_calendar.core.login_protection"):
        fail(client, "/accounts/login/", "alice", 5)

    [record] = [r for r in caplog.records if r.name == "spaces_calendar.core.login_protection"]
    assert record.levelno == logging.WARNING
    assert "alice" in record.getMessage() and ATTACKER in record.getMessage()
    assert "wrong" not in record.getMessage()


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_saw(client, client_factory, settings):
    settings.LOGIN_TRUST_X_FORWARDED_FOR = True
    make_user(make_tenant(), username="alice")
    proxy = "10.0.0.1"
    for attempt in range(5):  # a forged left-most entry changes nothing: the proxy appends what it saw
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR=proxy,
                    HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, {ATTACKER}")

    colleague = client_factory().post("/accounts/login/", {"username": "alice", "password": PASSWORD},
                                      REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=COLLEAGUE)
    attacker = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=proxy,
                           HTTP_X_FORWARDED_FOR=ATTACKER)

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert colleague.status_code == 302
    assert attacker.status_code == 429


def test_a_tenant_admin_is_told_on_the_home_page_which_members_are_locked(client, client_factory):
    acme, globex = make_tenant("Acme"), make_tenant("Globex")
    make_user(acme, username="alice")
    make_user(globex, username="gina")
    fail(client_factory(), "/accounts/login/", "alice", 5)
    fail(client_factory(), "/accounts/login/", "gina", 5)

    client.force_login(make_user(acme, Role.ADMIN))
    home = client.get(reverse("home")).text

    assert 'data-testid="locked-accounts"' in home
    assert "alice" in home and ATTACKER in home
    assert "gina" not in home


def test_viewers_are_not_shown_lockouts(client, client_factory):
    acme = make_tenant("Acme")
    make_user(acme, username="alice")
    fail(client_factory(), "/accounts/login/", "alice", 5)

    client.force_login(make_user(acme, Role.VIEWER))

    assert 'data-testid="locked-accounts"' not in client.get(reverse("home")).text


def test_a_superuser_sees_every_lockout_with_a_link_to_the_axes_pages(client, client_factory):
    make_user(make_tenant("Globex"), username="gina")
    fail(client_factory(), "/accounts/login/", "gina", 5)
    fail(client_factory(), "/accounts/login/", "no-such-user", 5)

    client.force_login(make_user(None, is_superuser=True))
    home = client.get(reverse("home")).text

    assert "gina" in home and "no-such-user" in home
    assert reverse("admin:axes_accessattempt_changelist") in home


def test_nothing_is_shown_once_the_lock_has_lifted(client, client_factory, settings):
    acme = make_tenant("Acme")
    make_user(acme, username="alice")
    fail(client_factory(), "/accounts/login/", "alice", 5)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(hours=1, seconds=1))

    client.force_login(make_user(acme, Role.ADMIN))

    assert 'data-testid="locked-accounts"' not in client.get(reverse("home")).text
