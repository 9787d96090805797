"""Security headers: a Content-Security-Policy on every page that lets only our own, nonce-marked scripts and styles
run; and behind a TLS proxy with an https PUBLIC_BASE_URL, HTTPS only (redirect, HSTS, secure cookies, the public
origin trusted for CSRF) with ``manage.py check --deploy`` clean, while the embedded default stays plain http."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model

from occupancy.kiosk import tokens
from spaces_calendar.core.models import Role
from tests.factories import make_room, make_tenant, make_user
from tests.test_settings import start_django

PUBLIC = "https://spaces.example.com"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


# --- Content-Security-Policy ------------------------------------------------------------------------------------

def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b([^>]*)>", re.IGNORECASE)
INLINE_ATTRIBUTE = re.compile(r"<[a-z][^>]*?\s(style|on[a-z]+)\s*=", re.IGNORECASE)


def assert_the_policy_holds(response) -> None:
    """The policy allows no inline code but ours, and every inline script and style of the page is ours."""
    assert "Content-Security-Policy" in response, f"no CSP on {response.request['PATH_INFO']}"
    policy = directives(response["Content-Security-Policy"])
    for name in ("script-src", "style-src"):
        assert "'self'" in policy[name] and not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(policy[name])
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    html = response.content.decode()
    nonces = {value[len("'nonce-"):-1] for value in policy["script-src"] if value.startswith("'nonce-")}
    for tag, attributes in SCRIPT_OR_STYLE.findall(html):
        if "src=" in attributes or 'type="application/json"' in attributes:
            continue  # a file of our origin ('self'), or data that never runs
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        assert nonce and nonce.group(1) in nonces, f"<{tag}{attributes}> without the page's nonce"
    assert not INLINE_ATTRIBUTE.findall(html), f"inline style/handler attributes: {INLINE_ATTRIBUTE.findall(html)}"


def test_no_template_has_inline_code_the_policy_would_refuse():
    """Also the pages no test renders: every inline <script>/<style> carries the nonce, no style= or on...=."""
    refused = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        html = path.read_text()
        for tag, attributes in SCRIPT_OR_STYLE.findall(html):
            if "src=" not in attributes and "application/json" not in attributes and \
                    'nonce="{{ request.csp_nonce }}"' not in attributes:
                refused.append(f"{path.relative_to(TEMPLATES)}: <{tag}{attributes}>")
        refused += [f"{path.relative_to(TEMPLATES)}: {name}=" for name in INLINE_ATTRIBUTE.findall(html)]
    assert not refused, f"inline code the Content-Security-Policy refuses (use the nonce, a class, a static file): " \
                        f"{refused}"


@pytest.fixture
def acme(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tenant = make_tenant("Acme")
    make_room(tenant, "Fjord")
    return tenant


ADMIN_PAGES = ["/", "/integrations/", "/integrations/spaces/", "/integrations/microsoft/rooms/",
               "/integrations/microsoft/rooms/import/", "/kiosk-tokens/", "/settings/sensors/",
               "/settings/occupancy/", "/reports/ghost-bookings/", "/reports/utilization/", "/api/docs/", "/kiosk/",
               "/account/api-tokens/"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_page_of_a_tenant_admin_carries_the_policy(client, acme, path):
    client.force_login(make_user(acme, Role.ADMIN, staff=False))

    response = client.get(path)

    assert response.status_code == 200
    assert_the_policy_holds(response)


def test_the_pages_of_a_new_user_a_signed_out_visitor_and_the_django_admin_carry_it(client, acme):
    assert_the_policy_holds(client.get("/accounts/login/"))
    client.force_login(get_user_model().objects.create_superuser("root", password="correct horse battery"))
    assert_the_policy_holds(client.get("/workplace/new/"))
    # Django's admin templates keep a few style attributes (e.g. hidden widgets); the browser test checks that
    # nothing there is refused. The header is what this asserts.
    assert "Content-Security-Policy" in client.get("/admin/")


def test_the_kiosk_token_page_lets_its_forms_send_a_real_origin(client, acme):
    tokens.issue_token(acme, "Panel", rooms=acme.buildings.get().floors.get().rooms.all())
    client.force_login(make_user(acme, Role.ADMIN, staff=False))

    page = client.get("/kiosk-tokens/")

    # Under no-referrer Chromium posts "Origin: null" and the CSRF check refuses the page's forms (403);
    # same-origin still keeps the address from other sites. (The Chromium proof: tests/browser/test_every_form.py.)
    assert page["Referrer-Policy"] == "same-origin"
    assert page.content.decode().count('method="post"') == 3  # create, revoke the one token, log out


# --- Behind a TLS proxy -----------------------------------------------------------------------------------------

def behind_tls(tmp_path) -> dict[str, str]:
    """A production configuration: own database and secrets, a TLS-terminating proxy in front."""
    return {"BEHIND_TLS_PROXY": "true", "PUBLIC_BASE_URL": PUBLIC,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}


def test_behind_a_tls_proxy_manage_py_check_deploy_is_clean(tmp_path):
    result = start_django(tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          **behind_tls(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


# What a request gets through the whole middleware stack, in a fresh process with the given configuration.
ASK = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

def ask(path, host, **headers):
    response = Client(HTTP_HOST=host, **headers).get(path)
    return {"status": response.status_code, "location": response.get("Location"),
            "hsts": response.get("Strict-Transport-Security")}

print(json.dumps({
    "http": ask("/no-such-page", "spaces.example.com"),
    "https": ask("/no-such-page", "spaces.example.com", HTTP_X_FORWARDED_PROTO="https"),
    "partner_health": ask("/partner/health/app", "spaces.example.com"),
    "probe": ask("/healthz", "127.0.0.1:8000"),
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "trusted_origins": settings.CSRF_TRUSTED_ORIGINS,
}))
"""


def test_behind_a_tls_proxy_every_request_is_https_except_the_load_balancers_probe(tmp_path):
    result = start_django(tmp_path, ["-c", ASK], **behind_tls(tmp_path), HEALTH_BROKER_TIMEOUT="0.5")

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["http"]["status"] == 301 and seen["http"]["location"] == f"{PUBLIC}/no-such-page"
    assert seen["https"]["status"] == 404
    assert seen["https"]["hsts"] == "max-age=31536000; includeSubDomains"
    # Cisco calls its health URLs at the public https address, through the proxy: no exemption for them.
    assert seen["partner_health"]["status"] == 301
    # A load balancer probes the backend itself over plain http: a redirect would read as healthy, or as down.
    assert seen["probe"]["status"] in (200, 503) and seen["probe"]["location"] is None
    assert seen["cookies_secure"] == [True, True]
    assert seen["trusted_origins"] == [PUBLIC]


def test_the_embedded_default_stays_plain_http_on_loopback(tmp_path):
    code = ("import json, django; django.setup(); from django.conf import settings as s; print(json.dumps("
            "[s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.CSRF_TRUSTED_ORIGINS, s.PUBLIC_BASE_URL]))")

    result = start_django(tmp_path, ["-c", code])

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        False, 0, False, False, ["http://127.0.0.1:8000"], "http://127.0.0.1:8000"]
