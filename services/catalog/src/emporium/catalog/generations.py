"""Cache families' generations, read for many requests in one Redis round trip.

Every cached read must learn its family's current generation from the shared cache (that
is what makes a write show at once, on every worker and replica). Under load one process
asks it hundreds of times a second, one ``GET`` each, and redis-py's per-command cost was
most of a cached product GET. Here the requests that ask within one turn of the event
loop share one ``MGET``.

Coherence is unchanged: a request joins only a batch that has not been sent yet, so the
``MGET`` that answers it leaves after the request arrived and sees every bump made before.
A generation that does not exist yet, and any Redis failure, go the ``Cache``'s own way
(``Cache.generation``: it creates the token, or degrades to a fresh one that matches
nothing).

The keys are ``Cache.generation``'s (``~gen:<name>`` in the cache's namespace).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from emporium.kit.cache.base import Cache
from emporium.kit.cache.redis_cache import RedisCache

__all__ = ["GenerationBatcher", "generation", "generations", "versioned"]


class GenerationBatcher:
    """Batches ``generation`` lookups of one ``RedisCache`` into ``MGET`` commands."""

    def __init__(self, cache: RedisCache) -> None:
        self.cache = cache
        self._waiting: dict[str, list[asyncio.Future[str]]] = {}

    async def generation(self, name: str) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if not self._waiting:
            # Sent once the requests that are ready in this turn of the loop have asked.
            asyncio.get_running_loop().call_soon(self._send)
        self._waiting.setdefault(name, []).append(future)
        return await future

    async def generations(self, names: Sequence[str]) -> list[str]:
        """``generation`` of each of ``names``, in the same batch: one future each and no
        task (a listing asks for ~20 at once, and a task per name was a quarter of a
        cached listing's cost)."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._send)
        futures: list[asyncio.Future[str]] = []
        for name in names:
            future: asyncio.Future[str] = loop.create_future()
            self._waiting.setdefault(name, []).append(future)
            futures.append(future)
        return [await future for future in futures]  # all answered by the same MGET

    def _send(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._answer(batch))
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    async def _answer(self, batch: dict[str, list[asyncio.Future[str]]]) -> None:
        names = list(batch)
        try:
            keys = [self.cache.full_key(f"~gen:{name}") for name in names]
            values: list[bytes | str | None] = await self.cache.client.mget(keys)
        except RedisCache._failures:
            values = [None] * len(names)  # Cache.generation below meets the failure itself
        except BaseException as error:
            for waiters in batch.values():
                for future in waiters:
                    if not future.done():
                        future.set_exception(error)
            raise
        for name, value in zip(names, values, strict=True):
            token = value.decode() if isinstance(value, bytes) else value
            if token is None:
                try:
                    token = await self.cache.generation(name)
                except BaseException as error:
                    for future in batch[name]:
                        if not future.done():
                            future.set_exception(error)
                    continue
            for future in batch[name]:
                if not future.done():  # its request may have been cancelled
                    future.set_result(token)


_sending: set[asyncio.Task[None]] = set()
_batchers: weakref.WeakKeyDictionary[RedisCache, GenerationBatcher] = weakref.WeakKeyDictionary()


async def generation(cache: Cache, name: str) -> str:
    """``cache.generation(name)``, batched with other requests' when ``cache`` is Redis."""
    if not isinstance(cache, RedisCache) or not cache.available:
        return await cache.generation(name)
    batcher = _batchers.get(cache)
    if batcher is None:
        batcher = _batchers[cache] = GenerationBatcher(cache)
    return await batcher.generation(name)


async def generations(cache: Cache, names: Sequence[str]) -> list[str]:
    """``generation`` of each of ``names`` (in one batch when ``cache`` is Redis)."""
    if not isinstance(cache, RedisCache) or not cache.available:
        return [await cache.generation(name) for name in names]
    batcher = _batchers.get(cache)
    if batcher is None:
        batcher = _batchers[cache] = GenerationBatcher(cache)
    return await batcher.generations(names)


async def versioned(cache: Cache, name: str, key: str) -> str:
    """``cache.versioned(name, key)``: the same key, its generation read in a batch."""
    return f"{name}:{await generation(cache, name)}:{key}"
