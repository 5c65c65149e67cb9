"""Event streams: a pool of their own, a cap per customer, a bounded life, and the end of a
stream when its token stops being valid."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from emporium.gateway.testing import GatewayFactory, Running
from emporium.gateway.upstreams import Upstreams
from emporium.kit.auth.denylist import CacheDenylist
from emporium.kit.testing.polling import eventually


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, unique: str) -> dict[str, str | None]:
    """Where the leases are counted: this process, or Redis (its own keys)."""
    if request.param == "memory":
        return {"redis_url": None, "cache_namespace": unique}
    return {"redis_url": request.getfixturevalue("redis_url"), "cache_namespace": unique}


def _as(gw: Running, subject: uuid.UUID, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.mint.token(subject, **claims)}"}


async def _open(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    return await client.send(client.build_request("GET", path, headers=headers), stream=True)


async def _read_to_end(stream: httpx.Response) -> list[bytes]:
    # A deadline for a test that would otherwise hang, not a timed assertion.
    async with asyncio.timeout(20):
        return [chunk async for chunk in stream.aiter_raw()]


async def test_one_customer_cannot_starve_the_others(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(
        streams_per_customer=5,
        breaker_failure_threshold=1,
        **store,
    )
    greedy, other = _as(gw, uuid.uuid4()), _as(gw, uuid.uuid4())
    open_streams: list[httpx.Response] = []
    refused = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=gw.url, timeout=30, limits=limits) as client:
        try:
            # All at once: the cap must hold against a burst, not only one at a time.
            opened = await asyncio.gather(
                *(_open(client, f"/api/v1/orders/quiet-{i}/events", greedy) for i in range(150))
            )
            for stream in opened:
                if stream.status_code == 200:
                    open_streams.append(stream)
                    continue
                assert stream.status_code == 429, await stream.aread()
                await stream.aread()
                assert stream.headers["content-type"] == "application/problem+json"
                assert stream.json()["type"] == "https://emporium.dev/problems/too-many-streams"
                assert int(stream.headers["retry-after"]) >= 1
                refused += 1
                await stream.aclose()
            assert len(open_streams) == 5
            assert refused == 145
            # The other customer is another browser: connections of its own. (Reusing the
            # greedy client's idle ones would race the server closing them after its 5 s
            # keep-alive, which a loaded machine reaches while the 150 answers are read.)
            async with httpx.AsyncClient(base_url=gw.url, timeout=30) as theirs:
                for path in ("/api/v1/cart", "/api/v1/orders") * 10:
                    assert (await theirs.get(path, headers=other)).status_code == 200
                # The other customer may open streams of their own.
                mine = await _open(theirs, "/api/v1/orders/quiet-x/events", other)
                assert mine.status_code == 200
                await mine.aclose()
        finally:
            for stream in open_streams:
                await stream.aclose()
    assert gw.resources.get(Upstreams)["orders"].breaker.state == "closed"


async def test_a_closed_stream_gives_its_place_back(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(streams_per_customer=1, **store)
    me = _as(gw, uuid.uuid4())
    first = await _open(gw.client, "/api/v1/orders/quiet-1/events", me)
    assert first.status_code == 200
    second = await _open(gw.client, "/api/v1/orders/quiet-2/events", me)
    assert second.status_code == 429
    await second.aclose()
    await first.aclose()

    async def place_again() -> bool:
        again = await _open(gw.client, "/api/v1/orders/quiet-3/events", me)
        await again.aclose()
        return again.status_code == 200

    await eventually(place_again, timeout=10)


async def test_the_cap_is_shared_by_gateway_replicas_through_redis(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    one = await gateway(streams_per_customer=3, redis_url=redis_url, cache_namespace=unique)
    two = await gateway(
        streams_per_customer=3, redis_url=redis_url, cache_namespace=unique, mint=one.mint
    )
    subject = uuid.uuid4()
    held = [
        await _open(one.client, "/api/v1/orders/quiet-1/events", _as(one, subject)),
        await _open(two.client, "/api/v1/orders/quiet-2/events", _as(two, subject)),
        await _open(two.client, "/api/v1/orders/quiet-3/events", _as(two, subject)),
    ]
    try:
        assert [stream.status_code for stream in held] == [200, 200, 200]
        for gw in (one, two):
            extra = await _open(gw.client, "/api/v1/orders/quiet-4/events", _as(gw, subject))
            assert extra.status_code == 429
            await extra.aclose()
    finally:
        for stream in held:
            await stream.aclose()


async def test_streams_have_a_pool_of_their_own_and_a_full_one_is_not_a_failure(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(
        stream_max_connections=3,
        streams_per_customer=100,
        upstream_queue_seconds=0.2,
        breaker_failure_threshold=1,
    )
    me = _as(gw, uuid.uuid4())
    held = [await _open(gw.client, f"/api/v1/orders/quiet-{i}/events", me) for i in range(3)]
    try:
        assert [stream.status_code for stream in held] == [200, 200, 200]
        busy = await gw.client.get("/api/v1/orders/quiet-9/events", headers=me)
        assert busy.status_code == 503
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["type"] == "https://emporium.dev/problems/upstream-busy"
        assert busy.headers["retry-after"] == "1"
        # Ordinary calls have their own connections; nobody's breaker opened.
        for _ in range(10):
            assert (await gw.client.get("/api/v1/orders", headers=me)).status_code == 200
        assert gw.resources.get(Upstreams)["orders"].breaker.state == "closed"
    finally:
        for stream in held:
            await stream.aclose()


async def test_waiting_for_a_busy_ordinary_pool_is_bounded_and_not_a_failure(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(
        upstream_max_connections=1, upstream_queue_seconds=0.2, breaker_failure_threshold=1
    )
    catalog = gw.services["catalog"]
    slow = asyncio.create_task(gw.client.get("/api/v1/media/_slow"))

    async def slow_one_in_flight() -> bool:
        busy = await gw.client.get("/api/v1/media/x")
        return busy.status_code == 503

    await eventually(slow_one_in_flight, timeout=10)
    busy = await gw.client.get("/api/v1/media/x")
    assert busy.json()["type"] == "https://emporium.dev/problems/upstream-busy"
    assert int(busy.headers["retry-after"]) >= 1
    assert gw.resources.get(Upstreams)["catalog"].breaker.state == "closed"
    catalog.release.set()
    assert (await slow).status_code == 200
    assert (await gw.client.get("/api/v1/media/x")).status_code == 200


async def test_a_stream_ends_when_its_customer_signs_out(gateway: GatewayFactory) -> None:
    gw = await gateway(stream_check_seconds=0.1)
    orders = gw.services["orders"]
    token = gw.mint.token()
    headers = {"Authorization": f"Bearer {token}"}
    stream = await _open(gw.client, "/api/v1/orders/quiet-1/events", headers)
    assert stream.status_code == 200
    chunks = stream.aiter_raw()
    assert await anext(chunks) == b"id: 1\ndata: open\n\n"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    await gw.resources.get(CacheDenylist).revoke(
        jti, expires_at=datetime.now(UTC) + timedelta(minutes=5)
    )
    async with asyncio.timeout(20):
        assert [chunk async for chunk in chunks] == []  # ended by the gateway, cleanly

    async def upstream_closed() -> bool:
        return orders.streams_ended == 1

    await eventually(upstream_closed, timeout=10)
    # Reconnecting is refused now.
    again = await gw.client.get("/api/v1/orders/quiet-1/events", headers=headers)
    assert again.status_code == 401


async def test_a_stream_ends_when_its_token_expires(gateway: GatewayFactory) -> None:
    gw = await gateway(stream_check_seconds=60)
    headers = _as(gw, uuid.uuid4(), ttl=2)
    stream = await _open(gw.client, "/api/v1/orders/quiet-1/events", headers)
    assert stream.status_code == 200
    assert await _read_to_end(stream) == [b"id: 1\ndata: open\n\n"]


async def test_a_stream_ends_after_its_lifetime_and_the_client_resumes(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(stream_max_seconds=0.3)
    orders = gw.services["orders"]
    me = _as(gw, uuid.uuid4())
    stream = await _open(gw.client, "/api/v1/orders/quiet-1/events", me)
    assert await _read_to_end(stream) == [b"id: 1\ndata: open\n\n"]
    resumed = await _open(gw.client, "/api/v1/orders/quiet-1/events", {**me, "Last-Event-ID": "1"})
    assert resumed.status_code == 200
    await resumed.aclose()
    assert orders.last_event_ids == [None, "1"]


@pytest.mark.parametrize(
    "value", ["-1", "abc", "1.5", "99999999999999999999", "9223372036854775808"]
)
async def test_an_out_of_range_last_event_id_is_a_422(gateway: GatewayFactory, value: str) -> None:
    gw = await gateway()
    answer = await gw.client.get(
        "/api/v1/orders/quiet-1/events", headers={**gw.bearer(), "Last-Event-ID": value}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "header.Last-Event-ID"
    assert gw.services["orders"].last_event_ids == []


async def test_the_largest_last_event_id_passes(gateway: GatewayFactory) -> None:
    gw = await gateway()
    headers = {**gw.bearer(), "Last-Event-ID": "9223372036854775807"}
    stream = await _open(gw.client, "/api/v1/orders/quiet-1/events", headers)
    assert stream.status_code == 200
    await stream.aclose()
