"""DRF authentication with API tokens: ``Authorization: Token <key>``, as DRF's TokenAuthentication read it, so
integrations built for that header keep working."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import tokens

KEYWORD = "Token"


class ApiTokenAuthentication(BaseAuthentication):
    """No ``Token`` header: not ours (the session may authenticate). A ``Token`` header that is not a live key:
    401, with ``WWW-Authenticate: Token``."""

    def authenticate(self, request):
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != KEYWORD.lower():
            return None
        token = tokens.authenticate(raw.strip())
        if token is None:
            raise AuthenticationFailed("This API token is unknown or has been revoked.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`, with a key from /account/api-tokens/ or `manage.py create_api_token`."}
