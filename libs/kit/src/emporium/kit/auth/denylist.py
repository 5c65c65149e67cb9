"""Revoked access tokens: their ids (``jti``) until the moment they would have expired.

Kept in the shared cache (Redis in real deployments, namespace ``auth``) so the customers
service can revoke and the gateway and every service see it. If Redis is down the cache
degrades to "no entries": tokens are then accepted until they expire, which is short
(minutes); availability wins over a revocation that the token's expiry bounds anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime

from emporium.kit.cache.base import Cache
from emporium.kit.cache.memory import MemoryCache
from emporium.kit.settings import RedisSettings

__all__ = ["CacheDenylist", "shared_denylist"]


class CacheDenylist:
    """A ``Denylist`` on a ``Cache``; entries vanish when the token would have expired."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    async def revoke(self, token_id: str, *, expires_at: datetime) -> None:
        remaining = (expires_at - datetime.now(UTC)).total_seconds()
        if remaining > 0:
            await self.cache.set(f"revoked:{token_id}", b"1", ttl=remaining + 5)

    async def is_revoked(self, token_id: str) -> bool:
        return await self.cache.get(f"revoked:{token_id}") is not None

    async def close(self) -> None:
        await self.cache.close()


# One per process for the embedded default, where every app runs in the same process: a
# token revoked by customers is then refused by the gateway and the other services too.
_MEMORY_DENYLIST = CacheDenylist(MemoryCache("auth", default_ttl=3600))


def shared_denylist(settings: RedisSettings) -> tuple[CacheDenylist, bool]:
    """The denylist every part of the platform shares, and whether the caller must close it."""
    if settings.redis_url:
        from emporium.kit.cache.redis_cache import RedisCache

        cache = RedisCache(
            settings.redis_url, "auth", default_ttl=3600, timeout=settings.redis_timeout_seconds
        )
        return CacheDenylist(cache), True
    return _MEMORY_DENYLIST, False
