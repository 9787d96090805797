"""A fixed-window request counter per key.

With a shared Django cache configured (Redis, Memcached, the database) the counts live there: one limit across
every web process. With Django's default local-memory cache each web process counts on its own, so the effective
limit is the setting times the number of processes, and it counts in a dict of its own rather than in that cache:
the local-memory cache keeps 300 entries, so with more tokens than that in use a token's counter was evicted long
before it reached any limit (and every eviction culled a third of the cache). A fixed window lets a client spend up
to twice the limit around a window boundary, which is fine for a guard against runaway kiosks.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache

_LOCAL_CACHE = "django.core.cache.backends.locmem.LocMemCache"
_counts: dict[str, int] = {}  # this process's counts, for the window in _window
_window: list[tuple[int, int] | None] = [None]  # (window length, window number)
_lock = threading.Lock()


def hit(key: str, limit: int, window_s: int, now: float | None = None) -> tuple[bool, float]:
    """Count one request for ``key``; returns (allowed, seconds until the window ends)."""
    now = time.time() if now is None else now
    window = int(now // window_s)
    if settings.CACHES["default"]["BACKEND"] == _LOCAL_CACHE:
        with _lock:
            if _window[0] != (window_s, window):
                _counts.clear()
                _window[0] = (window_s, window)
            count = _counts[key] = _counts.get(key, 0) + 1
    else:
        cache_key = f"kiosk-rate:{key}:{window}"
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window's first request (or the counter was evicted)
            count = 1 if cache.add(cache_key, 1, timeout=window_s + 1) else cache.incr(cache_key)
    return count <= limit, (window + 1) * window_s - now


def forget() -> None:
    """Drop this process's counts (tests)."""
    with _lock:
        _counts.clear()
        _window[0] = None
