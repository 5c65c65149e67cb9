"""Caching: a namespaced bytes ``Cache`` that degrades to "no cache" instead of failing.

- ``RedisCache`` (shared by processes) and ``MemoryCache`` (in-process, the embedded default);
  ``make_cache(settings, namespace)`` picks one from ``RedisSettings``.
- ``get_or_compute(cache, key, compute)``: cache-aside with stampede protection and optional
  serve-stale; ``put(cache, key, value)`` stores a value at hand in its form.
- ``cache.versioned(name, key)`` / ``cache.bump(name)``: invalidate a family of keys at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium.kit.cache.base import Cache
from emporium.kit.cache.compute import get_or_compute, put
from emporium.kit.cache.factory import make_cache
from emporium.kit.cache.memory import MemoryCache

if TYPE_CHECKING:
    from emporium.kit.cache.redis_cache import RedisCache

__all__ = ["Cache", "MemoryCache", "RedisCache", "get_or_compute", "make_cache", "put"]


def __getattr__(name: str) -> object:
    # ``RedisCache`` loads redis (slow to import): only when it is asked for.
    if name == "RedisCache":
        from emporium.kit.cache.redis_cache import RedisCache

        return RedisCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
