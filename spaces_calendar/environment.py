"""Typed readers for environment variables.

Every setting comes through here so that a wrong value stops start-up with a message naming the variable and the
form it expects, instead of surfacing later as a confusing failure deep inside a request or a task.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_UNSET = object()


class Env:
    """Reads variables from a mapping (``os.environ`` by default) and validates them."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _missing(self, name: str, default: object, form: str):
        if default is _UNSET:
            raise ImproperlyConfigured(f"{name} is required ({form}).")
        return default

    def is_set(self, name: str) -> bool:
        return self._raw(name) is not None or self._raw(f"{name}_FILE") is not None

    def str(self, name: str, default: object = _UNSET) -> str:
        raw = self._raw(name)
        return self._missing(name, default, "a string") if raw is None else raw

    def secret(self, name: str, default: object = _UNSET) -> str:
        """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (for container secrets)."""
        raw = self._raw(name)
        path = self._raw(f"{name}_FILE")
        if raw is not None and path is not None:
            raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
        if path is not None:
            try:
                raw = Path(path).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc.strerror}.") from exc
            if not raw:
                raise ImproperlyConfigured(f"{name}_FILE={path} is empty.")
        return self._missing(name, default, "a secret string, or NAME_FILE with a path") if raw is None else raw

    def int(self, name: str, default: object = _UNSET, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
        raw = self._raw(name)
        form = "an integer" + _range_text(minimum, maximum)
        if raw is None:
            return self._missing(name, default, form)
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {form}.") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ImproperlyConfigured(f"{name}={raw!r} is out of range: expected {form}.")
        return value

    def float(self, name: str, default: object = _UNSET, *, minimum: float | None = None) -> float:
        raw = self._raw(name)
        form = "a number" + _range_text(minimum, None)
        if raw is None:
            return self._missing(name, default, form)
        try:
            value = float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {form}.") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name}={raw!r} is out of range: expected {form}.")
        return value

    def bool(self, name: str, default: object = _UNSET) -> bool:
        raw = self._raw(name)
        form = "one of true/false, 1/0, yes/no, on/off"
        if raw is None:
            return self._missing(name, default, form)
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {form}.")

    def list(self, name: str, default: object = _UNSET) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return self._missing(name, default, "a comma-separated list")
        return [item.strip() for item in raw.split(",") if item.strip()]

    def url(self, name: str, default: object = _UNSET, *, schemes: tuple[str, ...] = ("https", "http")) -> str:
        raw = self._raw(name)
        form = f"an absolute URL with scheme {'/'.join(schemes)}"
        if raw is None:
            return self._missing(name, default, form)
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {form}.")
        return raw.rstrip("/")

    def time_zone(self, name: str, default: object = _UNSET) -> str:
        raw = self._raw(name)
        form = "an IANA time zone name such as Europe/Oslo"
        if raw is None:
            return self._missing(name, default, form)
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {form}.") from None
        return raw

    def json_map(self, name: str, default: object = _UNSET) -> dict[str, str]:
        raw = self._raw(name)
        form = 'a JSON object of strings, e.g. {"us": "https://..."}'
        if raw is None:
            return self._missing(name, default, form)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ImproperlyConfigured(f"{name} is not valid: expected {form}.") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ImproperlyConfigured(f"{name} is not valid: expected {form}.")
        return value

    def fernet_keys(self, name: str, default: object = _UNSET) -> list[str]:
        """Comma-separated Fernet keys: the first encrypts, all decrypt (so keys can be rotated)."""
        raw = self.secret(name, default=None)
        form = "comma-separated Fernet keys (32 url-safe base64-encoded bytes each)"
        if raw is None:
            return self._missing(name, default, form)
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if not keys:
            raise ImproperlyConfigured(f"{name} is empty: expected {form}.")
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ImproperlyConfigured(
                    f"{name}: key #{position} is not valid: expected {form}."
                ) from None
        return keys


def _range_text(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of at least {minimum}"
    if maximum is not None:
        return f" of at most {maximum}"
    return ""


def local_secrets(path: Path) -> dict[str, str]:
    """Secrets for the embedded default, generated once into a git-ignored file.

    This lets the first run work with no set-up while keeping sessions and encrypted columns valid across
    restarts. Production never reaches this: it reads the secrets from the environment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ImproperlyConfigured(f"{path} is unreadable ({exc}); delete it to generate new local secrets.") from exc
    wanted = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    }
    missing = {name: make() for name, make in wanted.items() if name not in stored}
    if missing:
        stored.update(missing)
        # Write a temporary file and link it into place: if processes start together, the first link wins and
        # the others read its secrets, so every process ends up with the same keys.
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
        try:
            if len(missing) == len(wanted):
                os.link(temporary, path)
            else:
                os.replace(temporary, path)  # completing an older file: nothing else writes it concurrently
        except FileExistsError:
            return local_secrets(path)
        finally:
            temporary.unlink(missing_ok=True)
    return stored
