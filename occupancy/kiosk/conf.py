"""The kiosk's tunables. Each can be overridden in settings; the defaults suit room panels polling every 10-30 s."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class KioskSettings:
    #: How long a process trusts what it read about a token: the bound on how late a revocation takes effect.
    token_cache_s: float
    #: Requests one token may make per window (0 turns the limit off), counted in the Django cache.
    rate_limit: int
    rate_window_s: int
    #: ``Cache-Control: max-age`` of status responses; clients revalidate with ``If-None-Match`` after it.
    http_max_age_s: int
    #: A precomputed status document is rebuilt at least this often, whatever else happens: the bound for changes
    #: that are not watched (a room renamed, the tenant's subject policy, bookings that began long before).
    document_max_age_s: float


@cache  # read on every poll; settings missing from the settings module are slow to look up
def kiosk_settings() -> KioskSettings:
    return KioskSettings(
        token_cache_s=float(getattr(settings, "KIOSK_TOKEN_CACHE_S", 10.0)),
        rate_limit=int(getattr(settings, "KIOSK_RATE_LIMIT", 600)),
        rate_window_s=int(getattr(settings, "KIOSK_RATE_WINDOW_S", 60)),
        http_max_age_s=int(getattr(settings, "KIOSK_HTTP_MAX_AGE_S", 5)),
        document_max_age_s=float(getattr(settings, "KIOSK_DOCUMENT_MAX_AGE_S", 300.0)),
    )


def _forget(setting: str, **kwargs: object) -> None:
    if setting.startswith("KIOSK_"):
        kiosk_settings.cache_clear()


setting_changed.connect(_forget, dispatch_uid="occupancy.kiosk.conf")
