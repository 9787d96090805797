"""The Cisco Spaces partner API calls made during activation, through the one outbound HTTP seam.

* ``GET {baseUrl}/client/v1/partner/partnerPublicKey/{version}`` answers
  ``{"status": true, "message": "...", "data": [{"version": "v1", "publicKey": "<key>"}, ...]}`` where the key is
  the base64 DER of an RSA SubjectPublicKeyInfo, possibly with line breaks ("Partner Public Key to validate JWT",
  https://partners.dnaspaces.eu/docs/v1/basic/c-partner-public-key-to-validate-jwt.html). We also accept ``data``
  as a single object and a PEM key, and pick the entry whose ``version`` is the token's.
* ``POST {baseUrl}/client/v1/partner/activateOnPremiseApp`` with ``Authorization: Bearer <token>`` and
  ``{appId, activationRefId, instanceName}`` answers ``{"status": true, "message": "...", "data": {"apiKey": ...}}``
  ("On-Prem App - API Integration"; the response shape as Cisco's own samples read it). Cisco's error bodies for
  a refused token are not published: we read ``message`` from a ``{"status": false, "message": ...}`` body and
  treat a refusal whose message speaks of a used/deactivated token as token reuse.
"""

from __future__ import annotations

import binascii
import json
import re
import threading
import time
from base64 import b64decode
from typing import Any
from urllib.parse import quote

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from django.conf import settings

from spaces_calendar.core.http import AuthError, OutboundError, PermanentError, build_session, send

from .errors import ActivationError
from .tokens import ActivationClaims

PUBLIC_KEY_PATH = "/client/v1/partner/partnerPublicKey/{version}"
ACTIVATE_PATH = "/client/v1/partner/activateOnPremiseApp"
_REUSE_WORDS = re.compile(r"already|reuse|used|deactivat", re.IGNORECASE)
_MAX_QUOTED_MESSAGE = 200

_keys: dict[tuple[str, str], tuple[float, RSAPublicKey]] = {}
_keys_lock = threading.Lock()


def partner_public_key(base_url: str, version: str, *, fresh: bool = False) -> tuple[RSAPublicKey, bool]:
    """Cisco's public key ``version`` from ``base_url`` (a checked partner host) and whether it came from cache.

    Keys are cached per host and version for ``SPACES_PUBLIC_KEY_CACHE_S``; ``fresh=True`` skips the cache (a
    signature failure with a cached key may mean Cisco rotated it).
    """
    cache_key = (base_url, version)
    if not fresh:
        with _keys_lock:
            cached = _keys.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], True
    key = _fetch_public_key(base_url, version)
    with _keys_lock:
        _keys[cache_key] = (time.monotonic() + settings.SPACES_PUBLIC_KEY_CACHE_S, key)
    return key, False


def forget_public_keys() -> None:
    with _keys_lock:
        _keys.clear()


def activate_on_premise_app(base_url: str, token: str, claims: ActivationClaims, instance_name: str) -> str:
    """Exchange a verified activation token for the API key. Never retried: a token works only once."""
    body = {"appId": claims.app_id, "activationRefId": claims.activation_ref_id, "instanceName": instance_name}
    try:
        response = send(
            build_session(), "POST", base_url + ACTIVATE_PATH, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    except (AuthError, PermanentError) as error:
        if error.status is None or error.status >= 500:
            raise _unreachable(error) from None
        raise _refusal(_cisco_message(error.body_excerpt)) from None
    except OutboundError as error:
        raise _unreachable(error) from None
    answer = _json(response)
    if answer.get("status") is False:
        raise _refusal(str(answer.get("message") or ""))
    data = answer.get("data")
    api_key = data.get("apiKey") if isinstance(data, dict) else None
    if not isinstance(api_key, str) or not api_key.strip():
        raise ActivationError("unavailable", "Cisco Spaces accepted the token but sent no API key. Try again later.")
    return api_key.strip()


def _fetch_public_key(base_url: str, version: str) -> RSAPublicKey:
    url = base_url + PUBLIC_KEY_PATH.format(version=quote(version, safe=""))
    try:
        response = send(build_session(), "GET", url)
    except OutboundError as error:
        raise _unreachable(error) from None
    answer = _json(response)
    entries = answer.get("data")
    entries = [entries] if isinstance(entries, dict) else entries if isinstance(entries, list) else []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("version", version) == version and entry.get("publicKey"):
            return _load_key(str(entry["publicKey"]))
    raise ActivationError(
        "unavailable", f"Cisco Spaces has no public key {version!r} to check this token with. Try a new token."
    )


def _load_key(text: str) -> RSAPublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode("ascii"))
        else:
            key = load_der_public_key(b64decode("".join(text.split()), validate=True))
    except (ValueError, UnicodeError, binascii.Error, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, RSAPublicKey):
        raise ActivationError("unavailable", "Cisco Spaces sent a public key that cannot be read. Try again later.")
    return key


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ActivationError("unavailable", "Cisco Spaces answered with something other than JSON. Try again later.")
    return answer


def _cisco_message(excerpt: str) -> str:
    try:
        answer = json.loads(excerpt)
    except ValueError:
        return ""
    return str(answer.get("message") or answer.get("error") or "") if isinstance(answer, dict) else ""


def _refusal(cisco_message: str) -> ActivationError:
    quoted = cisco_message.strip()[:_MAX_QUOTED_MESSAGE]
    said = f' (Cisco Spaces said: "{quoted}")' if quoted else ""
    if _REUSE_WORDS.search(quoted):
        return ActivationError(
            "reused",
            f"Cisco Spaces refused this activation token because it was already used{said}. A token works only "
            "once, and Cisco deactivates the app when one is used again: generate a new token in Cisco Spaces.",
        )
    return ActivationError(
        "refused",
        f"Cisco Spaces refused this activation token{said}. Generate a new token in Cisco Spaces and try again.",
    )


def _unreachable(error: OutboundError) -> ActivationError:
    if error.status is not None:  # it answered, but not usefully: 5xx, or a 4xx to a request that cannot be wrong
        return ActivationError(
            "unavailable",
            f"Cisco Spaces is not available right now (HTTP {error.status}); nothing was activated. Try again in a "
            "few minutes.",
        )
    return ActivationError(
        "network",
        f"Cisco Spaces could not be reached ({error.kind}); nothing was activated. Check this server's outbound "
        "connection and try again.",
    )
