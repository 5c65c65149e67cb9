"""The settings pick the cache: Redis when a URL is configured, else in-process."""

from __future__ import annotations

from emporium.kit.cache import MemoryCache, RedisCache, make_cache
from emporium.kit.settings import RedisSettings


async def test_without_a_redis_url_the_cache_is_in_process(unique: str) -> None:
    cache = make_cache(RedisSettings(redis_url=None, cache_ttl_seconds=42), unique)
    assert isinstance(cache, MemoryCache)
    assert cache.namespace == unique
    assert cache.default_ttl == 42
    await cache.close()


async def test_with_a_redis_url_the_cache_is_shared_on_redis(redis_url: str, unique: str) -> None:
    cache = make_cache(RedisSettings(redis_url=redis_url), unique)
    try:
        assert isinstance(cache, RedisCache)
        await cache.set("k", b"v")
        assert await cache.client.get(cache.full_key("k")) == b"v"
        assert 0 < await cache.client.pttl(cache.full_key("k")) <= 300_000  # the default TTL
    finally:
        await cache.close()
