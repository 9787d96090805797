"""Each token may make KIOSK_RATE_LIMIT requests per KIOSK_RATE_WINDOW_S; then 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from occupancy.kiosk import ratelimit

from .conftest import minutes


@pytest.fixture
def limited(settings):
    settings.KIOSK_RATE_LIMIT = 3
    settings.KIOSK_RATE_WINDOW_S = 60


def test_the_limit_answers_429_with_retry_after_and_a_json_reason(world, kiosk_for, limited):
    kiosk = kiosk_for(building=world.hq)
    assert [kiosk.status(world.fjord).status_code for _ in range(3)] == [200, 200, 200]
    response = kiosk.status(world.fjord)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"]


def test_every_kiosk_url_counts_against_the_same_token(world, kiosk_for, limited):
    kiosk = kiosk_for(building=world.hq)
    now = timezone.now()
    available = f"/api/v1/rooms/available?from={now.isoformat()}&to={(now + minutes(30)).isoformat()}"
    statuses = [kiosk.status(world.fjord).status_code, kiosk.get("/api/v1/rooms/status").status_code,
                kiosk.get(available.replace("+", "%2B")).status_code, kiosk.status(world.glacier).status_code]
    assert statuses == [200, 200, 200, 429]


def test_a_304_and_an_error_count_once_each(world, kiosk_for, limited):
    kiosk = kiosk_for(building=world.hq)
    etag = kiosk.status(world.fjord)["ETag"]
    assert kiosk.status(world.fjord, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert kiosk.status(world.war_room).status_code == 404  # the slow path: still one request
    assert kiosk.status(world.fjord).status_code == 429


def test_tokens_are_limited_separately(world, kiosk_for, limited):
    busy, quiet = kiosk_for(building=world.hq), kiosk_for(building=world.hq)
    for _ in range(4):
        busy.status(world.fjord)
    assert busy.status(world.fjord).status_code == 429
    assert quiet.status(world.fjord).status_code == 200


def test_a_bad_token_is_401_not_429(world, kiosk_for, limited):
    from .conftest import Kiosk

    stranger = Kiosk("kt_00000000_" + "x" * 43)
    assert {stranger.status(world.fjord).status_code for _ in range(5)} == {401}


def test_zero_turns_the_limit_off(world, kiosk_for, settings):
    settings.KIOSK_RATE_LIMIT = 0
    kiosk = kiosk_for(building=world.hq)
    assert {kiosk.status(world.fjord).status_code for _ in range(20)} == {200}


def test_the_window_resets():
    assert ratelimit.hit("t", 2, 60, now=120.0) == (True, 60.0)
    assert ratelimit.hit("t", 2, 60, now=150.0) == (True, 30.0)
    assert ratelimit.hit("t", 2, 60, now=179.5) == (False, 0.5)
    assert ratelimit.hit("t", 2, 60, now=180.0) == (True, 60.0)


def test_more_tokens_than_the_local_cache_holds_are_each_counted(world, kiosk_for, limited):
    """Django's local-memory cache keeps 300 entries: counted there, counters of 500 tokens were evicted."""
    for token in range(500):
        assert ratelimit.hit(str(token), 3, 60, now=120.0)[0]
    assert [ratelimit.hit(str(token), 3, 60, now=121.0)[0] for token in range(500)] == [True] * 500
    assert [ratelimit.hit(str(token), 3, 60, now=122.0)[0] for token in range(500)] == [True] * 500
    assert not any(ratelimit.hit(str(token), 3, 60, now=123.0)[0] for token in range(500))


def test_a_shared_cache_counts_for_every_process(settings):
    settings.CACHES = {"default": {"BACKEND": "tests.kiosk.test_rate_limit.SharedCache", "LOCATION": "shared"}}
    assert [ratelimit.hit("t", 2, 60, now=120.0)[0] for _ in range(3)] == [True, True, False]
    from django.core.cache import cache

    assert cache.get("kiosk-rate:t:2") == 3


class SharedCache(LocMemCache):
    """A cache that is not the process-local default (as Redis would be), for the test above."""
