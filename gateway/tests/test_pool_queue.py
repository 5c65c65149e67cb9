"""Calls beyond an upstream's pool wait in a bounded, fair line instead of failing: no 503
while the service answers, and waiting never counts against the service's breaker."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from emporium.gateway.admission import Admission, Busy
from emporium.gateway.testing import GatewayFactory, Servers
from emporium.gateway.upstreams import Upstreams

from .fake_upstream import FakeUpstream


def _client(url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    return httpx.AsyncClient(base_url=url, timeout=30, limits=limits)


async def test_a_pool_of_two_serves_two_hundred_concurrent_calls_without_a_503(
    gateway: GatewayFactory, servers: Servers
) -> None:
    upstream = FakeUpstream(delay=0.002)
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        upstream_pool_sizes={"catalog": 2},
        upstream_queue_seconds=60,
        rate_limit_enabled=False,
        breaker_failure_threshold=1,
    )
    async with _client(gw.url) as client:
        answers = await asyncio.gather(*(client.get(f"/api/v1/media/m{i}") for i in range(200)))
    assert sorted({a.status_code for a in answers}) == [200], [
        a.json() for a in answers if a.status_code != 200
    ][:3]
    assert upstream.calls == 200
    assert upstream.most <= 2  # the pool bounded the service's load; the rest waited
    catalog = gw.resources.get(Upstreams)["catalog"]
    assert catalog.breaker.state == "closed"
    assert catalog.admission.in_use == 0  # every slot came back with its connection


async def test_the_wait_is_bounded_and_answers_busy_not_unavailable(
    gateway: GatewayFactory, servers: Servers
) -> None:
    upstream = FakeUpstream(delay=0)
    upstream.gate.clear()  # the service holds every call until told
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        upstream_pool_sizes={"catalog": 1},
        upstream_queue_seconds=0.3,
        breaker_failure_threshold=1,
    )
    held = asyncio.create_task(gw.client.get("/api/v1/media/held"))
    while upstream.running == 0:
        await asyncio.sleep(0.01)
    began = time.monotonic()
    busy = await gw.client.get("/api/v1/media/waits")
    waited = time.monotonic() - began
    assert busy.status_code == 503
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.json()["type"] == "https://emporium.dev/problems/upstream-busy"
    assert busy.headers["retry-after"] == "1"
    assert 0.25 <= waited < 3
    assert gw.resources.get(Upstreams)["catalog"].breaker.state == "closed"
    upstream.gate.set()
    assert (await held).status_code == 200
    assert (await gw.client.get("/api/v1/media/after")).status_code == 200


async def test_a_full_line_answers_busy_at_once(gateway: GatewayFactory, servers: Servers) -> None:
    upstream = FakeUpstream(delay=0)
    upstream.gate.clear()
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        upstream_pool_sizes={"catalog": 1},
        upstream_queue_length=1,
        upstream_queue_seconds=20,
    )
    catalog = gw.resources.get(Upstreams)["catalog"]
    async with _client(gw.url) as client:
        held = asyncio.create_task(client.get("/api/v1/media/held"))
        waiting = asyncio.create_task(client.get("/api/v1/media/waiting"))
        while catalog.admission.waiting == 0:
            await asyncio.sleep(0.01)
        began = time.monotonic()
        refused = await client.get("/api/v1/media/third")
        assert refused.status_code == 503
        assert refused.json()["type"] == "https://emporium.dev/problems/upstream-busy"
        assert time.monotonic() - began < 2  # not the 20 s wait
        upstream.gate.set()
        assert (await held).status_code == 200
        assert (await waiting).status_code == 200  # the one in line was served
    assert catalog.breaker.state == "closed"


async def test_a_service_that_refuses_connections_is_still_unavailable(
    gateway: GatewayFactory,
) -> None:
    from emporium.gateway.testing import free_port

    gw = await gateway(
        catalog_url=f"http://127.0.0.1:{free_port()}",
        upstream_retries=0,
        breaker_failure_threshold=2,
    )
    for _ in range(2):
        down = await gw.client.get("/api/v1/media/x")
        assert down.status_code == 503
        assert down.json()["type"] == "https://emporium.dev/problems/upstream-unavailable"
    assert gw.resources.get(Upstreams)["catalog"].breaker.state == "open"


# -- the line itself ---------------------------------------------------------------------


async def test_slots_go_to_waiters_in_the_order_they_came() -> None:
    gate = Admission(1, max_waiting=10, wait_seconds=5)
    await gate.acquire()
    served: list[int] = []

    async def call(n: int) -> None:
        await gate.acquire()
        served.append(n)
        await asyncio.sleep(0)
        gate.release()

    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(call(n)))
        await asyncio.sleep(0)  # each joins the line before the next
    # A newcomer while the line is full of earlier callers must queue behind them.
    late = asyncio.create_task(call(99))
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*waiters, late)
    assert served == [0, 1, 2, 3, 4, 99]
    assert gate.in_use == 0


async def test_a_waiter_that_gives_up_does_not_keep_a_slot() -> None:
    gate = Admission(1, max_waiting=10, wait_seconds=5)
    await gate.acquire()
    quitter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    stayer = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    quitter.cancel()
    gate.release()
    await asyncio.wait_for(stayer, 1)  # the slot skipped the cancelled waiter
    assert gate.in_use == 1
    gate.release()
    assert gate.in_use == 0
    await gate.acquire()  # and nobody is left in a line that would block a newcomer
    assert gate.in_use == 1


async def test_the_wait_runs_out() -> None:
    gate = Admission(1, max_waiting=10, wait_seconds=0.05)
    await gate.acquire()
    with pytest.raises(Busy) as refused:
        await gate.acquire()
    assert refused.value.waited
    gate.release()
    await gate.acquire()  # the timed-out waiter left no trace
