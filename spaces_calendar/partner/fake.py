"""A protocol-faithful fake of the Cisco Spaces partner API (activation and monitoring), on the sandbox harness.

One TLS server (test CA, like the real ``https://partners.dnaspaces.io``) answering:

* ``GET /client/v1/partner/partnerPublicKey[/{version}]`` → ``{"status": true, "message": ..., "data":
  [{"version": "v1", "publicKey": "<base64 DER SubjectPublicKeyInfo, wrapped at 64 columns>"}]}``: every key
  version it has, as Cisco's documented sample lists them.
* ``POST /client/v1/partner/activateOnPremiseApp[/]`` with ``Authorization: Bearer <activation token>``: the token
  must carry a valid RS256 signature by one of its keys, an unexpired ``exp``, and the fake's ``appId``; the body's
  ``appId``/``activationRefId`` must be the token's. Success: ``{"status": true, "message": ..., "data":
  {"apiKey": ...}}``. A token works once: using it again is refused and deactivates the key its first use issued.
* ``PUT /api/partners/v1/monitoring/status`` with ``x-api-key``: records the document for tests (401 for an
  unknown or deactivated key).

Cisco does not publish its error bodies; the fake answers them in Cisco's ``{"status": false, "message": ...}``
envelope: 401 for a bad or expired token, 400 for a reused token or a wrong ``appId``.

The Firehose fake adds its routes to the same server: pass a shared :class:`FakeServer` in, and use
:meth:`is_active_key` to authenticate the stream. Typical use::

    with FakeSpacesPartner() as fake:
        settings.SPACES_PARTNER_HOSTS = {fake.base_url: "sandbox"}
        token = fake.issue_activation_token()
"""

from __future__ import annotations

import hashlib
import secrets
import textwrap
import threading
import time
import uuid
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from spaces_calendar.sandbox.harness import FakeRequest, FakeResponse, FakeServer

PUBLIC_KEY_ROUTE = r"/client/v1/partner/partnerPublicKey(?:/(?P<version>[^/]*))?/?"
ACTIVATE_ROUTE = r"/client/v1/partner/activateOnPremiseApp/?"
MONITORING_ROUTE = "/api/partners/v1/monitoring/status"
REUSED_MESSAGE = "Activation token already used. The app activation has been deactivated."


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_base64(key: rsa.RSAPrivateKey) -> str:
    """The public half as Cisco serves it: base64 DER SubjectPublicKeyInfo, wrapped at 64 columns."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "\n".join(textwrap.wrap(b64encode(der).decode("ascii"), 64))


@dataclass
class IssuedKey:
    api_key: str
    tenant_id: Any
    activation_ref_id: str
    active: bool = True


@dataclass(frozen=True)
class MonitoringReport:
    api_key: str
    document: dict[str, Any]


class FakeSpacesPartner:
    def __init__(
        self,
        server: FakeServer | None = None,
        *,
        app_id: str = "app-5A1E5CA1E4DA4C0FB5C1D0C0FFEE0001",
        tenant_id: int = 420,
        customer: str = "Acme Workplace",
        key_version: str = "v1",
        private_key: rsa.RSAPrivateKey | None = None,
    ):
        self.server = server if server is not None else FakeServer(tls=True, name="spaces-partner")
        self._owns_server = server is None
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.customer = customer
        self.key_version = key_version
        self._lock = threading.Lock()
        # A long-running sandbox passes the key it kept, so tokens issued before a restart still verify.
        self._private_keys: dict[str, rsa.RSAPrivateKey] = {key_version: private_key or new_rsa_key()}
        self._keys: dict[str, IssuedKey] = {}
        self._used_tokens: dict[str, str] = {}
        self._reports: list[MonitoringReport] = []
        self.server.add_route("GET", PUBLIC_KEY_ROUTE, self._public_keys)
        self.server.add_route("POST", ACTIVATE_ROUTE, self._activate)
        self.server.add_route("PUT", MONITORING_ROUTE, self._monitoring_status)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> FakeSpacesPartner:
        self.server.start()
        return self

    def stop(self) -> None:
        if self._owns_server:
            self.server.stop()

    def __enter__(self) -> FakeSpacesPartner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    # -- what tests script and inspect -------------------------------------------------------------------

    def private_key(self, version: str | None = None) -> rsa.RSAPrivateKey:
        with self._lock:
            return self._private_keys[version or self.key_version]

    def rotate_key(self, version: str) -> None:
        """Replace the key of ``version`` (or add it) by a new one, as a key rotation at Cisco would."""
        with self._lock:
            self._private_keys[version] = new_rsa_key()

    def issue_activation_token(
        self,
        *,
        expires_in: float = 300,
        private_key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """An activation token signed like Cisco's; ``claims`` override (``None`` removes a claim)."""
        now = int(time.time())
        exp = int(now + expires_in)
        payload: dict[str, Any] = {
            "appId": self.app_id,
            "version": self.key_version,
            "activationRefId": uuid.uuid4().hex.upper(),
            "customer": self.customer,
            "expiresIn": exp * 1000,
            "tenantId": self.tenant_id,
            "baseUrl": self.base_url,
            "partnerTenantId": uuid.uuid4().hex.upper(),
            "iat": now,
            "exp": exp,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        key = private_key or self.private_key(payload.get("version"))
        return jwt.encode(payload, key, algorithm="RS256", headers={"typ": "JWT"})

    def issue_api_key(self, tenant_id: Any = None, activation_ref_id: str = "") -> str:
        """A key as an activation returns it (also for an operator's SPACES_API_KEY in tests)."""
        api_key = secrets.token_hex(20)
        with self._lock:
            self._keys[api_key] = IssuedKey(api_key, tenant_id or self.tenant_id, activation_ref_id)
        return api_key

    def restore_keys(self, keys: list[IssuedKey]) -> None:
        """Take back keys issued before a restart (see :attr:`issued_keys`): Cisco does not forget them either."""
        with self._lock:
            for issued in keys:
                self._keys[issued.api_key] = issued

    def is_active_key(self, api_key: str | None) -> bool:
        with self._lock:
            issued = self._keys.get(api_key or "")
            return issued is not None and issued.active

    def deactivate_key(self, api_key: str) -> None:
        with self._lock:
            if api_key in self._keys:
                self._keys[api_key].active = False

    @property
    def issued_keys(self) -> list[IssuedKey]:
        with self._lock:
            return list(self._keys.values())

    @property
    def monitoring_reports(self) -> list[MonitoringReport]:
        with self._lock:
            return list(self._reports)

    def activation_requests(self) -> list[FakeRequest]:
        return self.server.requests_to(ACTIVATE_ROUTE, "POST")

    def public_key_requests(self) -> list[FakeRequest]:
        return self.server.requests_to(PUBLIC_KEY_ROUTE, "GET")

    # -- handlers ----------------------------------------------------------------------------------------

    def _public_keys(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            data = [{"version": v, "publicKey": public_key_base64(k)} for v, k in sorted(self._private_keys.items())]
        return FakeResponse.json({"status": True, "message": "Successfully fetched partner keys.", "data": data})

    def _activate(self, request: FakeRequest) -> FakeResponse:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return _refusal(401, "Authorization token is missing")
        token = authorization[len("Bearer "):].strip()
        claims, problem = self._verify(token)
        if claims is None:
            return _refusal(401, problem)
        try:
            body = request.json()
        except ValueError:
            return _refusal(400, "Invalid request body")
        if claims.get("appId") != self.app_id or body.get("appId") != claims.get("appId"):
            return _refusal(400, "Invalid appId")
        if body.get("activationRefId") != claims.get("activationRefId"):
            return _refusal(400, "Invalid activationRefId")
        fingerprint = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            first_key = self._used_tokens.get(fingerprint)
            if first_key is not None:
                self._keys[first_key].active = False
                return _refusal(400, REUSED_MESSAGE)
            api_key = secrets.token_hex(20)
            self._keys[api_key] = IssuedKey(api_key, claims.get("tenantId"), str(claims.get("activationRefId")))
            self._used_tokens[fingerprint] = api_key
        answer = {"status": True, "message": "App activated successfully.", "data": {"apiKey": api_key}}
        return FakeResponse.json(answer)

    def _verify(self, token: str) -> tuple[dict[str, Any] | None, str]:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            key = self.private_key(str(unverified.get("version") or self.key_version)).public_key()
        except (jwt.PyJWTError, KeyError, AttributeError):
            return None, "Invalid activation token"
        try:
            return jwt.decode(token, key, algorithms=["RS256"], options={"require": ["exp"]}), ""
        except jwt.ExpiredSignatureError:
            return None, "Activation token expired"
        except jwt.PyJWTError:
            return None, "Invalid activation token"

    def _monitoring_status(self, request: FakeRequest) -> FakeResponse:
        api_key = request.headers.get("x-api-key")
        if not self.is_active_key(api_key):
            return _refusal(401, "Unauthorized")
        try:
            document = request.json()
        except ValueError:
            return _refusal(400, "Invalid request body")
        if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
            return _refusal(400, "Invalid request body")
        with self._lock:
            self._reports.append(MonitoringReport(str(api_key), document))
        return FakeResponse.json({"status": True, "message": "Success"})


def _refusal(status: int, message: str) -> FakeResponse:
    return FakeResponse.json({"status": False, "message": message, "data": None}, status)
