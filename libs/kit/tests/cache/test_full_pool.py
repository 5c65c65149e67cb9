"""A full Redis connection pool is waited on, first come first served, for a bounded time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from emporium.kit.cache import RedisCache
from emporium.kit.cache.redis_cache import WaitingConnectionPool


@pytest.fixture
async def one_connection(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_pool(
        WaitingConnectionPool.from_url(redis_url, wait_seconds=5.0, max_connections=1)
    )
    yield client
    await client.aclose()


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_command_waits_for_the_connection_in_use(one_connection: Redis) -> None:
    pool = one_connection.connection_pool
    held = await pool.get_connection()
    ping = asyncio.create_task(one_connection.ping())
    await turns()
    assert not ping.done()  # waiting, not refused
    await pool.release(held)
    assert await ping is True


async def test_waiters_are_served_in_the_order_they_came(one_connection: Redis) -> None:
    pool = one_connection.connection_pool
    held = await pool.get_connection()
    order: list[int] = []

    async def take(n: int) -> None:
        connection = await pool.get_connection()
        order.append(n)
        await turns(2)
        await pool.release(connection)

    waiting = [asyncio.create_task(take(n)) for n in range(4)]
    await turns()
    await pool.release(held)
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2, 3]


async def test_a_wait_that_runs_out_is_a_full_pool_error(redis_url: str) -> None:
    client = Redis.from_pool(
        WaitingConnectionPool.from_url(redis_url, wait_seconds=0.05, max_connections=1)
    )
    held = await client.connection_pool.get_connection()
    try:
        with pytest.raises(MaxConnectionsError):
            await client.ping()
        await client.connection_pool.release(held)
        assert await client.ping() is True  # the pool is whole again
    finally:
        await client.aclose()


async def test_a_cancelled_waiter_does_not_keep_the_next_one_waiting(
    one_connection: Redis,
) -> None:
    pool = one_connection.connection_pool
    held = await pool.get_connection()
    gone = asyncio.create_task(pool.get_connection())
    await turns()
    ping = asyncio.create_task(one_connection.ping())
    await turns()
    gone.cancel()
    await pool.release(held)
    assert await asyncio.wait_for(ping, 2.0) is True


async def test_the_cache_waits_as_long_as_a_command_may_take(redis_url: str) -> None:
    cache = RedisCache(redis_url, "pool", timeout=0.25)
    try:
        pool = cache.client.connection_pool
        assert isinstance(pool, WaitingConnectionPool)
        assert (pool.wait_seconds, pool.max_connections) == (0.25, 100)
    finally:
        await cache.close()


async def test_a_waiter_cancelled_after_its_wake_up_passes_it_on(one_connection: Redis) -> None:
    pool = one_connection.connection_pool
    held = await pool.get_connection()
    woken = asyncio.create_task(pool.get_connection())
    await turns()
    ping = asyncio.create_task(one_connection.ping())
    await turns()
    await pool.release(held)  # wakes ``woken``...
    woken.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(ping, 2.0) is True
    with pytest.raises(asyncio.CancelledError):
        await woken


async def test_a_connection_that_fails_to_connect_gives_its_slot_back_once() -> None:
    # redis-py releases it itself before get_connection raises: counted once, the pool
    # still hands out exactly its one connection afterwards.
    pool = WaitingConnectionPool.from_url(
        "redis://127.0.0.1:1/0", wait_seconds=0.05, max_connections=1, socket_connect_timeout=0.2
    )
    for _ in range(3):
        with pytest.raises(RedisConnectionError):
            await pool.get_connection()
    assert pool._line.in_use == 0
    await pool.disconnect()
