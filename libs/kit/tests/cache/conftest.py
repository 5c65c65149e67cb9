"""Fixtures of the cache tests: the same behaviour tests run on every implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emporium.kit.cache import Cache, MemoryCache, RedisCache


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Cache]:
    """The in-process cache, and a cache on the real Redis (namespace unique to the test)."""
    made: Cache
    if request.param == "memory":
        made = MemoryCache(unique)
    else:
        made = RedisCache(request.getfixturevalue("redis_url"), unique)
    yield made
    await made.close()


@pytest.fixture
async def peer(request: pytest.FixtureRequest, cache: Cache) -> AsyncIterator[Cache]:
    """Another client of ``cache``'s store, as another process would have one (same
    namespace). No other process can reach a memory cache: there it is the cache itself."""
    if isinstance(cache, RedisCache):
        other = RedisCache(request.getfixturevalue("redis_url"), cache.namespace)
        yield other
        await other.close()
    else:
        yield cache


@pytest.fixture
async def neighbour(request: pytest.FixtureRequest, cache: Cache) -> AsyncIterator[Cache]:
    """A cache of the same kind and store as ``cache``, in another namespace."""
    other: Cache
    if isinstance(cache, RedisCache):
        other = RedisCache(request.getfixturevalue("redis_url"), f"{cache.namespace}-2")
    else:
        other = MemoryCache(f"{cache.namespace}-2")
    yield other
    await other.close()
