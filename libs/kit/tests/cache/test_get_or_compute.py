"""Cache-aside: one computation per missing key, and stale copies served while refreshing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from emporium.kit.cache import Cache, RedisCache, get_or_compute, put
from emporium.kit.testing import eventually


class Source:
    """The expensive thing behind the cache: counts its calls, can be held or made to fail."""

    def __init__(self, value: bytes = b"computed") -> None:
        self.value = value
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> bytes:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        else:
            await asyncio.sleep(0.05)  # a slow computation, so concurrent callers overlap
        if self.error is not None:
            raise self.error
        return self.value

    def release(self) -> None:
        """Let a held computation finish."""
        assert self.gate is not None
        self.gate.set()


async def test_a_missing_value_is_computed_stored_and_then_served(cache: Cache) -> None:
    source = Source(b"v1")
    assert await get_or_compute(cache, "k", source, ttl=60) == b"v1"
    assert await cache.get("k") == b"v1"
    assert await get_or_compute(cache, "k", source, ttl=60) == b"v1"
    assert source.calls == 1


async def test_fifty_concurrent_callers_of_a_missing_key_compute_it_once(cache: Cache) -> None:
    source = Source()
    results = await asyncio.gather(
        *(get_or_compute(cache, "hot", source, ttl=60) for _ in range(50))
    )
    assert results == [b"computed"] * 50
    assert source.calls == 1


async def test_callers_in_several_processes_compute_a_missing_key_once(
    redis_url: str, unique: str
) -> None:
    # Five clients with their own connections stand for five processes of one service.
    clients = [RedisCache(redis_url, unique) for _ in range(5)]
    try:
        source = Source()
        results = await asyncio.gather(
            *(get_or_compute(clients[i % 5], "hot", source, ttl=60) for i in range(50))
        )
        assert results == [b"computed"] * 50
        assert source.calls == 1
    finally:
        for client in clients:
            await client.close()


async def test_a_failed_computation_reaches_every_waiter_and_is_not_stored(cache: Cache) -> None:
    source = Source()
    source.error = RuntimeError("database down")
    results = await asyncio.gather(
        *(get_or_compute(cache, "k", source, ttl=60) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert source.calls == 1
    assert await cache.get("k") is None

    source.error = None  # the next caller tries again
    assert await get_or_compute(cache, "k", source, ttl=60) == b"computed"
    assert source.calls == 2


async def test_a_waiter_of_another_process_computes_itself_when_the_holder_never_stores(
    cache: Cache, peer: Cache
) -> None:
    # A holder that took the lock and then vanished (crashed process) holds it until lock_ttl.
    assert await peer.lock("k", ttl=60) is not None
    source = Source()
    assert await get_or_compute(cache, "k", source, ttl=60, wait=0.3) == b"computed"
    assert source.calls == 1


async def test_compute_must_return_bytes(cache: Cache) -> None:
    async def text() -> bytes:
        return "not bytes"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="bytes"):
        await get_or_compute(cache, "k", text)


async def expire_softly(
    cache: Cache, key: str, call: Callable[[Source], Awaitable[bytes]]
) -> tuple[Source, asyncio.Task[bytes]]:
    """Wait until ``key`` is past its soft expiry: a call then starts a refresh (held)."""
    refresh = Source(b"v2")
    refresh.gate = asyncio.Event()

    async def refresh_started() -> asyncio.Task[bytes] | None:
        task = asyncio.ensure_future(call(refresh))
        entered = asyncio.ensure_future(refresh.entered.wait())
        await asyncio.wait([task, entered], return_when=asyncio.FIRST_COMPLETED)
        if refresh.entered.is_set():
            return task
        entered.cancel()
        assert await task == b"v1"  # still fresh: served from the cache
        return None

    started = await eventually(refresh_started, timeout=10)
    assert started is not None
    return refresh, started


async def test_past_the_soft_expiry_one_caller_refreshes_and_the_others_get_the_stale_copy(
    cache: Cache, peer: Cache
) -> None:
    def call(source: Source, on: Cache = cache) -> Awaitable[bytes]:
        return get_or_compute(on, "k", source, ttl=0.3, stale_ttl=60)

    first = Source(b"v1")
    assert await call(first) == b"v1"

    refresh, refreshing = await expire_softly(cache, "k", call)

    # While the refresh runs, everyone else - here and in other processes - gets v1 at once.
    others = Source(b"never")
    stale = await asyncio.gather(*(call(others) for _ in range(20)), call(others, peer))
    assert stale == [b"v1"] * 21
    assert others.calls == 0

    refresh.release()
    assert await refreshing == b"v2"
    assert await call(others) == b"v2"
    assert await call(others, peer) == b"v2"
    assert (first.calls, refresh.calls, others.calls) == (1, 1, 0)


async def test_a_failed_refresh_serves_the_stale_copy(
    cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    def call(source: Source) -> Awaitable[bytes]:
        return get_or_compute(cache, "k", source, ttl=0.3, stale_ttl=60)

    assert await call(Source(b"v1")) == b"v1"
    refresh, refreshing = await expire_softly(cache, "k", call)
    refresh.error = RuntimeError("database down")
    with caplog.at_level(logging.ERROR, logger="emporium.kit.cache"):
        refresh.release()
        assert await refreshing == b"v1"
    assert any("stale" in r.getMessage() for r in caplog.records)

    # The stale copy stays; the next caller past the soft expiry tries again.
    assert await call(Source(b"v3")) == b"v3"


async def test_a_value_stored_without_serve_stale_is_recomputed_with_it(cache: Cache) -> None:
    await cache.set("k", b"plain")
    assert await get_or_compute(cache, "k", Source(b"wrapped"), ttl=60, stale_ttl=60) == (
        b"wrapped"
    )
    assert await get_or_compute(cache, "k", Source(b"again"), ttl=60, stale_ttl=60) == b"wrapped"


@pytest.mark.parametrize("stale_ttl", [None, 30.0])
async def test_a_value_put_is_served_as_if_it_had_been_computed(
    cache: Cache, stale_ttl: float | None
) -> None:
    source = Source(b"computed")
    await put(cache, "k", b"at hand", ttl=60, stale_ttl=stale_ttl)
    assert await get_or_compute(cache, "k", source, ttl=60, stale_ttl=stale_ttl) == b"at hand"
    assert source.calls == 0


async def test_a_value_put_goes_stale_like_a_computed_one(cache: Cache) -> None:
    source = Source(b"fresh")
    await put(cache, "k", b"old", ttl=0.05, stale_ttl=30)
    await asyncio.sleep(0.1)
    # Past its soft expiry: served stale while one caller recomputes.
    assert await get_or_compute(cache, "k", source, ttl=60, stale_ttl=30) == b"fresh"
    assert source.calls == 1


async def test_put_refuses_what_get_or_compute_refuses(cache: Cache) -> None:
    with pytest.raises(ValueError, match="positive"):
        await put(cache, "k", b"v", ttl=0)
    with pytest.raises(ValueError, match="positive"):
        await put(cache, "k", b"v", ttl=1, stale_ttl=0)
    assert await cache.get("k") is None
