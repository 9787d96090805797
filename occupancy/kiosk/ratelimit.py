"""A fixed-window request counter per key in the Django cache.

With the default local-memory cache every web process counts on its own, so the effective limit is the setting
times the number of processes; configure a shared cache (Redis) for one limit across them. A fixed window lets a
client spend up to twice the limit around a window boundary, which is fine for a guard against runaway kiosks.
"""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(key: str, limit: int, window_s: int, now: float | None = None) -> tuple[bool, float]:
    """Count one request for ``key``; returns (allowed, seconds until the window ends)."""
    now = time.time() if now is None else now
    window = int(now // window_s)
    cache_key = f"kiosk-rate:{key}:{window}"
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window's first request (or the counter was evicted)
        count = 1 if cache.add(cache_key, 1, timeout=window_s + 1) else cache.incr(cache_key)
    return count <= limit, (window + 1) * window_s - now
