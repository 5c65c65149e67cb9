"""Redis-backed cache, shared by every process of a service.

Socket timeouts are small (``timeout``, 0.3 s by default) and a failed command is retried
once on a fresh connection: a restarted Redis costs the first command a reconnect, not an
error, and a dead or unreachable one costs at most ~2 x ``timeout`` before the cache
degrades (see ``Cache``). The client is created once and reconnects by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from emporium.kit.cache.base import Cache

__all__ = ["RedisCache"]

# Compare-and-delete, atomic on the server: release a lock only while we still hold it.
_DELETE_IF = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisCache(Cache):
    """A ``Cache`` on Redis (``redis://host:port/db``); degrades while Redis is down."""

    _failures = (RedisError, OSError, asyncio.TimeoutError)

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        default_ttl: float = 300.0,
        timeout: float = 0.3,
        cooldown: float = 1.0,
    ) -> None:
        super().__init__(namespace, default_ttl=default_ttl, cooldown=cooldown)
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
            health_check_interval=0,
        )
        self._delete_if = self._client.register_script(_DELETE_IF)

    @property
    def client(self) -> Redis:
        """The underlying client (for operations the ``Cache`` API does not cover)."""
        return self._client

    async def _raw_get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._call(self._client.get(key)))

    async def _raw_set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._call(self._client.set(key, value, px=_ms(ttl)))

    async def _raw_add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return bool(await self._call(self._client.set(key, value, px=_ms(ttl), nx=True)))

    async def _raw_delete(self, keys: Sequence[str]) -> None:
        await self._call(self._client.delete(*keys))

    async def _raw_delete_if(self, key: str, value: bytes) -> None:
        await self._call(self._delete_if(keys=[key], args=[value]))

    async def _raw_ping(self) -> None:
        await self._call(self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()

    @staticmethod
    async def _call(response: Any) -> Any:
        # redis-py types command results as "Awaitable | value" (sync and async clients
        # share the signatures); on the asyncio client it is always an awaitable.
        return await response


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, round(ttl * 1000))
