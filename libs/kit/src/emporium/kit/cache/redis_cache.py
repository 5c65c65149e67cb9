"""Redis-backed cache, shared by every process of a service.

Socket timeouts are small (``timeout``, 0.3 s by default) and a failed command is retried
once on a fresh connection: a restarted Redis costs the first command a reconnect, not an
error, and a dead or unreachable one costs at most ~2 x ``timeout`` before the cache
degrades (see ``Cache``). The client is created once and reconnects by itself.

Its pool holds 100 connections. When every one is busy (thousands of requests at once on
a loaded event loop hold each for the loop's lag), a command waits up to ``timeout`` for
one to come back instead of failing at once (``WaitingConnectionPool``): a request that
goes without the cache costs a database read, and under 5,000 shoppers those misses were
what overflowed the catalog. The wait costs nothing while a connection is free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from emporium.kit.admission import FairLine
from emporium.kit.cache.base import Cache

__all__ = ["RedisCache", "WaitingConnectionPool"]

#: Connections per client (redis-py's default).
MAX_CONNECTIONS = 100

# Compare-and-delete, atomic on the server: release a lock only while we still hold it.
_DELETE_IF = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class WaitingConnectionPool(ConnectionPool):
    """redis-py's pool, except that a full pool is waited on, first come first served
    (``FairLine``), for up to ``wait_seconds``; then ``MaxConnectionsError``, as at once
    before. A free connection is taken as before, for one counter more."""

    def __init__(
        self, *, wait_seconds: float, max_connections: int = MAX_CONNECTIONS, **kwargs: Any
    ) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self.wait_seconds = wait_seconds
        self._line = FairLine(max_connections)
        # Connections handed out with a slot of the line. redis-py releases a connection
        # that failed to connect before get_connection returns it: that release must not
        # give the slot back a second time.
        self._held: set[AbstractConnection] = set()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        line = self._line
        if not await line.enter(self.wait_seconds):  # a free slot: taken without waiting
            raise MaxConnectionsError(
                f"no pooled Redis connection came free within {self.wait_seconds} s"
            )
        try:
            connection = cast("AbstractConnection", await super().get_connection())  # type: ignore[no-untyped-call]
        except BaseException:
            line.leave()
            raise
        self._held.add(connection)
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        if connection not in self._held:
            await super().release(connection)  # not handed out (see above): redis-py's own
            return
        self._held.discard(connection)
        try:
            await super().release(connection)
        finally:
            self._line.leave()


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
        pool = WaitingConnectionPool.from_url(
            url,
            wait_seconds=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
            health_check_interval=0,
        )
        self._client: Redis = Redis.from_pool(pool)
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
