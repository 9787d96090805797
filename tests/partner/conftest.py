from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from spaces_calendar.core import health
from spaces_calendar.core.models import Role
from spaces_calendar.partner import client as partner_client
from spaces_calendar.partner.fake import FakeSpacesPartner
from spaces_calendar.sandbox.harness import ca_bundle_path
from tests.factories import make_tenant, make_user

CISCO_HOSTS = {
    "https://partners.dnaspaces.io": "Rest of the world (io)",
    "https://partners.dnaspaces.eu": "Europe (eu)",
}


@pytest.fixture(autouse=True)
def _no_cached_partner_keys() -> Iterator[None]:
    """Every test's fake has its own RSA key, possibly on a port an earlier fake used."""
    partner_client.forget_public_keys()
    yield
    partner_client.forget_public_keys()


@pytest.fixture
def fake_spaces(settings) -> Iterator[FakeSpacesPartner]:
    """A running fake partner API, trusted as a partner host and as the firehose/monitoring base URL."""
    with FakeSpacesPartner() as fake:
        settings.SPACES_PARTNER_HOSTS = {**CISCO_HOSTS, fake.base_url: "Sandbox"}
        settings.SPACES_FIREHOSE_URL = fake.base_url
        settings.SPACES_APP_ID = fake.app_id
        settings.SPACES_API_KEY = None
        settings.OUTBOUND_CA_BUNDLE = ca_bundle_path()
        settings.OUTBOUND_MAX_RETRIES = 1
        settings.OUTBOUND_BACKOFF_BASE = 0.01
        yield fake
        fake.server.raise_errors()


@pytest.fixture
def acme(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: these users never log in
    tenant = make_tenant("Acme")
    return {"tenant": tenant, "admin": make_user(tenant, Role.ADMIN), "viewer": make_user(tenant, Role.VIEWER)}


@pytest.fixture
def only_checks(monkeypatch):
    """Replace the health-check registry for one test, so results do not depend on brokers or workers."""

    def use(checks: dict) -> None:
        monkeypatch.setattr(health, "_checks", dict(checks))

    return use


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict, payload: dict, sign=lambda signing_input: b"") -> str:
    """A JWT assembled by hand, for the tokens PyJWT refuses to make (alg none, HMAC with a public key)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def hs256_with_public_key(fake: FakeSpacesPartner, payload: dict) -> str:
    """The classic confusion attack: HMAC-SHA256 keyed with the (public) RSA key a verifier holds."""
    pem = fake.private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return forge({"typ": "JWT", "alg": "HS256"}, payload, lambda data: hmac.new(pem, data, hashlib.sha256).digest())
