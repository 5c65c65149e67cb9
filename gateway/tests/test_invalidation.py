"""The catalog's announcements of stale families drop exactly those cached answers, at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from emporium.gateway.invalidation import (
    LOCAL_STALE_CHANNEL,
    StaleListener,
    families_in,
    stale_channel,
)
from emporium.gateway.testing import GatewayFactory, Running
from emporium.kit.testing.polling import eventually


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _cached(gw: Running, path: str) -> bool:
    return (await gw.client.get(path)).headers["x-cache"] == "HIT"


async def test_an_announced_product_is_fetched_again_and_nothing_else_is(
    gateway: GatewayFactory, redis_url: str, redis: Redis, unique: str
) -> None:
    gw = await gateway(redis_url=redis_url, cache_namespace=unique, response_cache_seconds=300)
    listener = gw.resources.get(StaleListener)
    await eventually(lambda: _is_set(listener), timeout=10)
    changed, other = uuid.uuid4(), uuid.uuid4()
    paths = [f"/api/v1/products/{changed}", f"/api/v1/products/{other}", "/api/v1/categories"]
    for path in paths:
        await gw.client.get(path)
        assert await _cached(gw, path)
    db = int(redis.connection_pool.connection_kwargs.get("db", 0))
    began = time.monotonic()
    await redis.publish(stale_channel(db), f'["product:{changed}"]')

    async def dropped() -> bool:
        return not await _cached(gw, f"/api/v1/products/{changed}")

    await eventually(dropped, timeout=5, interval=0.01)
    assert time.monotonic() - began < 1.0
    assert await _cached(gw, f"/api/v1/products/{other}")
    assert await _cached(gw, "/api/v1/categories")


async def _is_set(listener: StaleListener) -> bool:
    return listener.subscribed.is_set()


def test_only_well_formed_families_are_taken_from_an_announcement() -> None:
    product = uuid.uuid4()
    assert families_in(f'["listing", "product:{product}", "categories"]') == [
        "listing",
        f"product:{product}",
        "categories",
    ]
    assert families_in(b'["product:not-an-id", "*", 3, "listing"]') == ["listing"]
    assert families_in(b"not json") == []
    assert families_in(b'{"listing": 1}') == []


def test_the_gateway_listens_where_the_catalog_announces() -> None:
    from emporium.catalog.invalidation import stale_channel as catalog_channel

    assert stale_channel(3) == catalog_channel(3)


async def test_without_redis_an_in_process_announcement_drops_the_product(
    gateway: GatewayFactory,
) -> None:
    # The embedded default (`make dev`): the catalog in this process announces here.
    from emporium.kit.cache.local_pubsub import LOCAL_PUBSUB

    gw = await gateway(response_cache_seconds=300)
    changed, other = uuid.uuid4(), uuid.uuid4()
    paths = [f"/api/v1/products/{changed}", f"/api/v1/products/{other}"]
    for path in paths:
        await gw.client.get(path)
        assert await _cached(gw, path)
    await LOCAL_PUBSUB.publish(LOCAL_STALE_CHANNEL, f'["product:{changed}"]')
    assert not await _cached(gw, paths[0])
    assert await _cached(gw, paths[1])


def test_the_gateway_listens_in_process_where_the_catalog_announces() -> None:
    from emporium.catalog.invalidation import LOCAL_STALE_CHANNEL as catalog_channel
    from emporium.kit.cache.local_pubsub import LOCAL_STALE_CHANNEL as kit_channel

    # One definition, the kit's: both sides name the same channel by construction.
    assert LOCAL_STALE_CHANNEL is kit_channel
    assert catalog_channel is kit_channel
