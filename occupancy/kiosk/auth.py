"""DRF plumbing of the kiosk API: bearer-token authentication, the per-token rate limit, JSON only."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from . import ratelimit, tokens
from .conf import kiosk_settings


class KioskTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer kt_…``. No header at all is a 401 too (see ``HasKioskGrant``)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationFailed("Send the kiosk token as “Authorization: Bearer <token>”.")
        grant = tokens.authenticate(raw.strip())
        if grant is None:
            raise AuthenticationFailed("This kiosk token is unknown or has been revoked.")
        return AnonymousUser(), grant

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="kiosk"'


class HasKioskGrant(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, tokens.KioskGrant)


class KioskTokenThrottle(BaseThrottle):
    """``KIOSK_RATE_LIMIT`` requests per ``KIOSK_RATE_WINDOW_S`` per token; DRF answers 429 with Retry-After."""

    def allow_request(self, request, view) -> bool:
        allowed = self.count(request, request.auth)
        self._wait = getattr(request, "kiosk_rate", (True, 0.0))[1]
        return allowed

    def wait(self) -> float:
        return self._wait

    @staticmethod
    def count(request, grant: tokens.KioskGrant) -> bool:
        """Count the request once (the fast path and DRF's dispatch may both ask); whether it may proceed."""
        conf = kiosk_settings()
        if conf.rate_limit <= 0:
            return True
        if getattr(request, "kiosk_rate", None) is None:
            request.kiosk_rate = ratelimit.hit(str(grant.token_id), conf.rate_limit, conf.rate_window_s)
        return request.kiosk_rate[0]


class JSONOnly(BaseContentNegotiation):
    """Always JSON: a kiosk browser's ``Accept`` header is no reason for a 406, and negotiating costs time."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class KioskTokenScheme(OpenApiAuthenticationExtension):
    target_class = KioskTokenAuthentication
    name = "kioskToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer",
                "description": "A kiosk token (`kt_…`) issued by a tenant admin at /kiosk-tokens/."}
