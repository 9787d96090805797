"""Encryption of secrets at rest with ``FIELD_ENCRYPTION_KEYS`` (MultiFernet: first key encrypts, all decrypt)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def current_fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return current_fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str, *, label: str) -> str:
    """Decrypt ``token``; ``label`` names the field in the error, so an operator knows what broke."""
    try:
        return current_fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptionError(
            f"Cannot decrypt {label}: none of the {len(settings.FIELD_ENCRYPTION_KEYS)} key(s) in "
            "FIELD_ENCRYPTION_KEYS fits. Was a key removed before 'manage.py rotate_encryption_keys' ran?"
        ) from exc
