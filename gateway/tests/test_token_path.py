"""A customer's call as the customer sees it, now that it is cheaper: a small answer comes
whole with the service's own headers (or a 502 problem when the service cuts it), the
customer's window is counted in the gateway and still refuses past its limit, and the
revocation checks asked together still tell each token apart and fail open."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import jwt
import pytest
from redis.asyncio import Redis

from emporium.gateway.auth import RevocationChecks
from emporium.gateway.outage import Outage
from emporium.gateway.testing import GatewayFactory

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_service() -> AsyncIterator[Callable[[bytes], Awaitable[str]]]:
    """A service that answers every request with exactly ``answer``'s bytes, then closes."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_small_answer_comes_whole_with_the_services_headers(
    gateway: GatewayFactory, raw_service: Callable[[bytes], Awaitable[str]]
) -> None:
    body = b'{"id": "p1", "name": "Kettle"}'
    url = await raw_service(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Catalog: yes\r\n"
        b"Server: upstream\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    gw = await gateway(catalog_url=url)
    answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
    assert answer.status_code == 200
    assert answer.content == body
    assert answer.headers["x-catalog"] == "yes"
    assert answer.headers.get_list("content-length") == [str(len(body))]
    assert answer.headers.get_list("server") != ["upstream"]  # the gateway's own
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["ratelimit-limit"]


async def test_a_small_answer_cut_before_its_length_is_a_502_problem(
    gateway: GatewayFactory, raw_service: Callable[[bytes], Awaitable[str]]
) -> None:
    url = await raw_service(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"id": "p1", "na'
    )
    gw = await gateway(catalog_url=url)
    answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    assert "catalog" in answer.json()["detail"]


async def test_a_customers_window_refuses_past_its_limit(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    gw = await gateway(rate_limit_customer=2, redis_url=redis_url, cache_namespace=unique)
    me = gw.bearer()
    for remaining in ("1", "0"):
        ok = await gw.client.get("/api/v1/products", headers=me)
        assert ok.status_code == 200
        assert ok.headers["ratelimit-limit"] == "2"
        assert ok.headers["ratelimit-remaining"] == remaining
    refused = await gw.client.get("/api/v1/products", headers=me)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    # Another customer has a window of their own.
    assert (await gw.client.get("/api/v1/products", headers=gw.bearer())).status_code == 200
    # And the window reaches Redis (other gateway processes count it too).
    subject = jwt.decode(me["Authorization"].split()[1], options={"verify_signature": False})
    key = f"{unique}:ratelimit:api:customer:{subject['sub']}"
    client = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 5
        while await client.get(key) != b"3" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await client.get(key) == b"3"
    finally:
        await client.aclose()


async def test_revocations_asked_together_tell_each_token_apart(
    redis_url: str, unique: str
) -> None:
    client = Redis.from_url(redis_url)
    try:
        await client.set(f"{unique}:revoked:gone", b"1", ex=60)
        checks = RevocationChecks(
            client, revoked_key=lambda token_id: f"{unique}:revoked:{token_id}", outage=Outage()
        )
        asked = ["kept", "gone", "other", "gone"]
        found = await asyncio.gather(*(checks.revoked(token_id) for token_id in asked))
        assert found == [False, True, False, True]
        assert await checks.revoked("gone")  # and again, alone
    finally:
        await client.aclose()


async def test_revocation_checks_fail_open_while_redis_is_away() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    outage = Outage()
    try:
        checks = RevocationChecks(client, revoked_key=lambda t: f"revoked:{t}", outage=outage)
        assert await asyncio.gather(checks.revoked("a"), checks.revoked("b")) == [False, False]
        assert outage.down(time.monotonic())  # left alone for a while
        assert not await checks.revoked(str(uuid.uuid4()))
    finally:
        await client.aclose()
