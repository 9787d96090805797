"""Activation tokens: what they claim, whether their ``baseUrl`` is a partner host we trust, and their signature.

Cisco documents the token ("On-Prem App - API Integration",
https://partners.dnaspaces.io/docs/v1/basic/t-onprem-partner-app-activation-api-integration.html) as an RS256 JWT
with the claims ``appId``, ``version`` (of the partner public key, e.g. ``v1``), ``activationRefId``, ``customer``
(the customer's name), ``expiresIn`` (milliseconds), ``tenantId`` (a number), ``baseUrl``
(``https://partners.dnaspaces.io``), ``partnerTenantId``, ``iat`` and ``exp``.

The token names the server that vouches for it, so nothing in it is trusted before the signature is checked, and
its ``baseUrl`` is only ever used if it is one of the configured partner hosts: otherwise a forged token could make
us fetch a "public key" from a server of the forger's choosing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings

from .errors import ActivationError

#: Cisco signs with RS256; nothing else is accepted (no ``none``, no HS* made with the public key as secret).
ALGORITHMS = ["RS256"]
#: Clock difference tolerated on ``exp``/``iat``, in seconds.
LEEWAY_S = 30
REQUIRED_CLAIMS = ("appId", "activationRefId", "tenantId", "baseUrl")
DEFAULT_KEY_VERSION = "v1"

MALFORMED = (
    "This is not a Cisco Spaces activation token. Copy the whole token from the Activate dialog in Cisco "
    "Spaces and paste it again."
)


@dataclass(frozen=True)
class ActivationClaims:
    app_id: str
    activation_ref_id: str
    spaces_tenant_id: str
    spaces_tenant_name: str
    partner_tenant_id: str
    base_url: str
    key_version: str

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ActivationClaims:
        missing = [name for name in REQUIRED_CLAIMS if payload.get(name) in (None, "")]
        if missing:
            raise ActivationError("malformed", f"{MALFORMED} (It lacks {', '.join(missing)}.)")
        return cls(
            app_id=str(payload["appId"]),
            activation_ref_id=str(payload["activationRefId"]),
            spaces_tenant_id=str(payload["tenantId"]),
            # Cisco's documented claim is ``customer``; ``tenantName`` is accepted as an alias.
            spaces_tenant_name=str(payload.get("customer") or payload.get("tenantName") or ""),
            partner_tenant_id=str(payload.get("partnerTenantId") or ""),
            base_url=str(payload["baseUrl"]),
            key_version=str(payload.get("version") or DEFAULT_KEY_VERSION),
        )


def clean(raw: str) -> str:
    """The token without the line breaks and spaces that copying from a dialog or an e-mail adds."""
    return "".join(raw.split())


def read_unverified(token: str) -> ActivationClaims:
    """What the token says about itself, unchecked: only good for finding the key to check it with."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ActivationError("malformed", MALFORMED) from None
    if not isinstance(payload, dict):
        raise ActivationError("malformed", MALFORMED)
    return ActivationClaims.from_payload(payload)


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or None unless ``url`` is a bare origin (no path, query, user)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        return None
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def partner_host(base_url: str) -> tuple[str, str]:
    """(base URL, region label) if ``base_url`` is one of ``SPACES_PARTNER_HOSTS``; refuses any other host."""
    wanted = origin(base_url)
    for configured, region in settings.SPACES_PARTNER_HOSTS.items():
        if wanted is not None and origin(configured) == wanted:
            return wanted, region
    raise ActivationError(
        "unknown_host",
        "This token names a Cisco Spaces region this server does not know, so it was not used. Tokens from "
        f"Cisco Spaces come from {', '.join(sorted(settings.SPACES_PARTNER_HOSTS))}; ask your operator to add "
        "the region to SPACES_PARTNER_HOSTS if it is genuine.",
    )


def verify(token: str, public_key: Any, *, expected_app_id: str | None) -> ActivationClaims:
    """The token's claims once its RS256 signature, ``exp`` and (if configured) ``appId`` are checked."""
    try:
        payload = jwt.decode(
            token,
            public_key,
            algorithms=ALGORITHMS,
            options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            leeway=LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise ActivationError(
            "expired",
            "This activation token has expired (they are valid for a few minutes). Generate a new one in "
            "Cisco Spaces and paste it right away.",
        ) from None
    except jwt.MissingRequiredClaimError:
        raise ActivationError("malformed", f"{MALFORMED} (It has no expiry.)") from None
    except (jwt.InvalidAlgorithmError, jwt.InvalidSignatureError, jwt.DecodeError):
        raise ActivationError(
            "invalid",
            "This activation token is not signed by Cisco Spaces (its signature does not match Cisco's public "
            "key), so it was refused.",
        ) from None
    except jwt.PyJWTError:
        raise ActivationError("invalid", "This activation token failed validation, so it was refused.") from None
    claims = ActivationClaims.from_payload(payload)
    if expected_app_id and claims.app_id != expected_app_id:
        raise ActivationError(
            "wrong_app",
            "This activation token is for another Cisco Spaces partner app, not this one. Activate "
            "spaces-calendar in Cisco Spaces and paste the token it gives you.",
        )
    return claims
