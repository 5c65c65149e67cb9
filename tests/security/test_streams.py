"""Order event streams: one customer cannot hold the platform's connections.

The platform runs with ``GATEWAY_STREAMS_PER_CUSTOMER`` = ``STREAMS_PER_CUSTOMER`` and
``GATEWAY_STREAM_MAX_SECONDS`` = ``STREAM_MAX_SECONDS``. One customer opens 150 streams at
once: the cap's worth are served, every other one is a 429 problem+json, and meanwhile
another customer's cart, orders and own stream all answer. The streams end by themselves
at their maximum lifetime (the order is confirmed, not final: the service would keep them
open), and then the customer may open new ones. A stream also ends when its session signs
out.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from emporium_security import (
    STREAM_MAX_SECONDS,
    STREAMS_PER_CUSTOMER,
    Account,
    Secure,
    admin,
    client,
    is_problem,
    order_status,
    place_order,
    register,
    stocked_product,
)

pytestmark = pytest.mark.e2e

ATTEMPTS = 150


async def _open(http: httpx.AsyncClient, who: Account, order_id: str) -> httpx.Response:
    request = http.build_request("GET", f"/orders/{order_id}/events", headers=who.headers)
    return await http.send(request, stream=True)


async def _ended(stream: httpx.Response) -> None:
    """Read the stream to its end (the caller bounds the wait)."""
    async for _ in stream.aiter_raw():
        pass


async def _shoppers(secure: Secure) -> tuple[Account, str, Account, str]:
    async with client(secure) as http:
        boss = await admin(http, secure)
        product = await stocked_product(http, boss)
        streamer = await register(http, "Streamer")
        neighbour = await register(http, "Neighbour")
        streamed = await place_order(http, streamer, product)
        own = await place_order(http, neighbour, product)
        await order_status(http, streamer, streamed, "confirmed")
        await order_status(http, neighbour, own, "confirmed")
        return streamer, streamed, neighbour, own


async def test_a_customer_s_streams_are_capped_and_nobody_else_waits(secure: Secure) -> None:
    streamer, streamed, neighbour, own = await _shoppers(secure)
    limits = httpx.Limits(max_connections=ATTEMPTS + 10, max_keepalive_connections=0)
    async with client(secure, limits=limits) as streams, client(secure) as other:
        opened = await asyncio.gather(
            *(_open(streams, streamer, streamed) for _ in range(ATTEMPTS))
        )
        live = [s for s in opened if s.status_code == 200]
        try:
            for stream in opened:
                if stream.status_code != 200:
                    await stream.aread()
            statuses = Counter(s.status_code for s in opened)
            # While the streamer holds every stream it may: the neighbour is served as usual.
            failures = []
            for _ in range(10):
                for path in ("/cart", "/orders", f"/orders/{own}"):
                    answer = await other.get(path, headers=neighbour.headers)
                    if answer.status_code != 200:
                        failures.append(f"{path}: {answer.status_code} {answer.text[:200]}")
            neighbours = await _open(other, neighbour, own)
            neighbours_status = neighbours.status_code
            await neighbours.aclose()
            assert failures == [], failures
            assert neighbours_status == 200, "the cap is per customer"
            assert statuses[200] == STREAMS_PER_CUSTOMER, statuses
            assert statuses[429] == ATTEMPTS - STREAMS_PER_CUSTOMER, statuses
            refused = [s for s in opened if s.status_code == 429]
            assert all(is_problem(s) for s in refused), refused[0].headers
            assert all(
                s.headers.get("content-type", "").startswith("text/event-stream") for s in live
            )
            # Held open, they still end at their maximum lifetime.
            await asyncio.wait_for(
                asyncio.gather(*(_ended(s) for s in live)), timeout=STREAM_MAX_SECONDS + 30
            )
        finally:
            await asyncio.gather(*(s.aclose() for s in opened))
        # Their slots are free again (the gateway may notice a moment later).
        deadline = time.monotonic() + 15
        while True:
            again = await _open(streams, streamer, streamed)
            status = again.status_code
            await again.aclose()
            if status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert status == 200, "the streams' slots were never given back"


async def test_a_stream_ends_when_its_session_signs_out(secure: Secure) -> None:
    streamer, streamed, _, _ = await _shoppers(secure)
    async with client(secure) as http:
        stream = await _open(http, streamer, streamed)
        try:
            assert stream.status_code == 200, await stream.aread()
            reading = asyncio.create_task(_ended(stream))
            signed_out = await http.post("/auth/logout", headers=streamer.headers)
            assert signed_out.status_code == 204, signed_out.text
            # Well before its maximum lifetime: the session's end is what ends it.
            await asyncio.wait_for(reading, timeout=STREAM_MAX_SECONDS - 5)
        finally:
            await stream.aclose()
