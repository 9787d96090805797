"""API tokens: issued once, stored hashed, found by their hash, revoked in a click.

A key reads ``at_<prefix>_<secret>``: the 8-character prefix is not secret (the token list shows it), the secret is
43 URL-safe characters (256 bits). Only the SHA-256 of the whole key is stored, and a key is found by that hash: a
key this random needs no slow hash, and the database never holds anything that signs in. Keys converted from DRF's
plaintext tokens (40 hex characters) are hashed and found the same way (``legacy``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError
from django.utils import timezone

from .models import ApiToken

PREFIX_LENGTH = 8
MAX_KEY_LENGTH = 200
#: last_used_at is for people ("is this key still used?"): not worth a write on every request.
TOUCH_EVERY = timedelta(minutes=1)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; the key is returned here once and never stored."""
    for _attempt in range(3):
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        raw = f"at_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            return ApiToken.objects.create(user=user, name=name, prefix=prefix, key_hash=hash_key(raw)), raw
        except IntegrityError:  # the same 256-bit secret twice: never, but a unique index makes it an error
            continue
    raise RuntimeError("Could not draw a unique API key.")


def authenticate(raw: str) -> ApiToken | None:
    """The unrevoked token of an active user that ``raw`` is the key of; None for anything else."""
    if not raw or len(raw) > MAX_KEY_LENGTH:
        return None
    token = (ApiToken.objects.select_related("user").filter(key_hash=hash_key(raw), revoked_at=None,
                                                            user__is_active=True).first())
    if token is not None:
        _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_of(user):
    return ApiToken.objects.filter(user=user)


def revoke_token(token: ApiToken) -> None:
    """Revoked at once for every process: each request looks its key up."""
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
