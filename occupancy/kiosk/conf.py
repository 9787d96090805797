"""The kiosk's tunables, from the ``KIOSK_*`` settings (environment variables, see ``spaces_calendar/settings.py``
and the README); the defaults suit room panels polling every 10-30 s."""

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
    #: that are not watched (bookings that began long before the document was built).
    document_max_age_s: float
    #: PostgreSQL: the poll's statements are prepared once per connection (see ``queries._fetch``).
    prepared_statements: bool
    #: With the change feed live (``changes``): how long a room or token is answered from memory without a re-read.
    change_feed_trust_s: float


@cache  # read on every poll: a dataclass attribute is cheaper than settings.__getattr__
def kiosk_settings() -> KioskSettings:
    return KioskSettings(
        token_cache_s=settings.KIOSK_TOKEN_CACHE_S,
        rate_limit=settings.KIOSK_RATE_LIMIT,
        rate_window_s=settings.KIOSK_RATE_WINDOW_S,
        http_max_age_s=settings.KIOSK_HTTP_MAX_AGE_S,
        document_max_age_s=settings.KIOSK_DOCUMENT_MAX_AGE_S,
        prepared_statements=settings.KIOSK_PREPARED_STATEMENTS,
        change_feed_trust_s=settings.KIOSK_CHANGE_FEED_TRUST_S,
    )


def _forget(setting: str, **kwargs: object) -> None:
    if setting.startswith("KIOSK_"):
        kiosk_settings.cache_clear()


setting_changed.connect(_forget, dispatch_uid="occupancy.kiosk.conf")
