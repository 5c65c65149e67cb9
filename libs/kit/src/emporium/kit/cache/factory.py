"""Build the cache a service's settings ask for."""

from __future__ import annotations

from emporium.kit.cache.base import Cache
from emporium.kit.cache.memory import MemoryCache
from emporium.kit.settings import RedisSettings

__all__ = ["make_cache"]


def make_cache(settings: RedisSettings, namespace: str) -> Cache:
    """A ``RedisCache`` when ``redis_url`` is set, else an in-process ``MemoryCache``.

    ``namespace`` prefixes every key (use the service name, or a finer area) and labels the
    cache's metrics. Close the cache at shutdown (``await cache.close()``).
    """
    ttl = float(settings.cache_ttl_seconds)
    if settings.redis_url:
        from emporium.kit.cache.redis_cache import RedisCache  # loads redis: only if used

        return RedisCache(
            settings.redis_url, namespace, default_ttl=ttl, timeout=settings.redis_timeout_seconds
        )
    return MemoryCache(namespace, default_ttl=ttl)
