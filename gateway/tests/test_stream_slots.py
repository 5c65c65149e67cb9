"""Leases of event streams: the cap, giving back, expiry; in memory and in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from emporium.gateway.relay import stream_ends_in
from emporium.gateway.stream_slots import MemoryStreamSlots, RedisStreamSlots, StreamSlots
from emporium.kit.testing.polling import eventually


@pytest.mark.parametrize(
    ("max_seconds", "expires_in", "lifetime"),
    [(300, 900, 300), (300, 60, 60), (300, 300, 300), (300, 0, 0), (300, -5, 0), (0.5, 10, 0.5)],
)
def test_a_stream_lives_its_lifetime_or_until_its_token_expires(
    max_seconds: float, expires_in: float, lifetime: float
) -> None:
    assert stream_ends_in(max_seconds, expires_in) == lifetime


@pytest.fixture(params=["memory", "redis"])
async def slots(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[StreamSlots]:
    if request.param == "memory":
        yield MemoryStreamSlots(lease_seconds=30)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisStreamSlots(client, lease_seconds=30, prefix=f"{unique}:streams:")
    finally:
        await client.aclose()


async def test_at_most_limit_leases_per_owner(slots: StreamSlots) -> None:
    leases = [await slots.acquire("a", limit=3) for _ in range(3)]
    assert all(lease is not None for lease in leases)
    assert await slots.acquire("a", limit=3) is None
    assert await slots.acquire("b", limit=3) is not None  # another owner
    first = leases[0]
    assert first is not None
    await first.release()
    assert await slots.acquire("a", limit=3) is not None
    assert await slots.acquire("a", limit=3) is None


async def test_a_released_lease_released_again_frees_nothing_more(slots: StreamSlots) -> None:
    one = await slots.acquire("a", limit=2)
    two = await slots.acquire("a", limit=2)
    assert one is not None
    assert two is not None
    await one.release()
    await one.release()
    assert await slots.acquire("a", limit=2) is not None
    assert await slots.acquire("a", limit=2) is None


async def test_an_unrenewed_lease_expires(unique: str, redis_url: str) -> None:
    memory = MemoryStreamSlots(lease_seconds=0.001)
    client = Redis.from_url(redis_url)
    try:
        shared = RedisStreamSlots(client, lease_seconds=0.001, prefix=f"{unique}:streams:")
        for slots in (memory, shared):
            assert await slots.acquire("a", limit=1) is not None

            async def free_again(slots: StreamSlots = slots) -> bool:
                return await slots.acquire("a", limit=1) is not None

            await eventually(free_again, timeout=10)
    finally:
        await client.aclose()


async def test_a_renewed_lease_is_kept(slots: StreamSlots) -> None:
    lease = await slots.acquire("a", limit=1)
    assert lease is not None
    await lease.renew()
    assert await slots.acquire("a", limit=1) is None


async def test_redis_down_counts_in_this_process() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        slots = RedisStreamSlots(client, lease_seconds=30)
        lease = await slots.acquire("a", limit=1)
        assert lease is not None
        assert await slots.acquire("a", limit=1) is None
        await lease.release()  # logged, never raised
    finally:
        await client.aclose()


async def test_the_cap_holds_per_process_while_redis_is_slow_or_down() -> None:
    # Redis answers for none of these: the process's own count still stops at the cap,
    # however many ask at once.
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        slots = RedisStreamSlots(client, lease_seconds=30, cooldown=0.0)
        leases = await asyncio.gather(*(slots.acquire("a", limit=3) for _ in range(20)))
        assert sum(lease is not None for lease in leases) == 3
    finally:
        await client.aclose()


async def test_replicas_share_the_cap_through_redis(redis_url: str, unique: str) -> None:
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        first = RedisStreamSlots(one, lease_seconds=30, prefix=f"{unique}:streams:")
        second = RedisStreamSlots(two, lease_seconds=30, prefix=f"{unique}:streams:")
        assert await first.acquire("a", limit=2) is not None
        held = await second.acquire("a", limit=2)
        assert held is not None
        assert await first.acquire("a", limit=2) is None
        assert await second.acquire("a", limit=2) is None
        await held.release()
        assert await first.acquire("a", limit=2) is not None
    finally:
        await one.aclose()
        await two.aclose()
