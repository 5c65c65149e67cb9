"""An overloaded gateway refuses early with 503 problem details, never its probes, and
serves again once its event loop catches up; a spike alone never sheds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx

from emporium.gateway.shedding import OVERLOADED_TYPE, ShedPolicy
from emporium.gateway.testing import GatewayFactory, Running

# The blocker holds the loop this long between two yields: far above the tiny lag
# threshold the tests give, whatever the machine's speed (a slower one only lags more).
_BLOCK = 0.15
_QUICK = {
    "shed_enabled": True,
    "shed_lag_seconds": 0.05,
    "shed_after_seconds": 0.3,
    "rate_limit_enabled": False,
    "response_cache_seconds": 0,
}


@contextlib.asynccontextmanager
async def _blocking_the_loop() -> AsyncIterator[None]:
    """A task that keeps the (shared) event loop busy, as a CPU-bound overload would."""
    stop = asyncio.Event()

    async def block() -> None:
        while not stop.is_set():
            time.sleep(_BLOCK)  # on purpose: the loop can do nothing else meanwhile
            await asyncio.sleep(0)

    task = asyncio.create_task(block())
    try:
        yield
    finally:
        stop.set()
        await task


async def _until_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        answer = await client.get(path)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer


def _shed_count(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("emporium_gateway_shed_total "):
            return float(line.split()[1])
    return 0.0


async def _shed_so_far(gw: Running) -> float:
    return _shed_count((await gw.client.get("/metrics")).text)


async def test_an_overloaded_gateway_sheds_with_problem_details_then_recovers(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(**_QUICK)
    assert (await gw.client.get("/api/v1/products")).status_code == 200
    before = await _shed_so_far(gw)
    async with _blocking_the_loop():
        shed = await _until_status(gw.client, "/api/v1/products", 503)
        assert shed.status_code == 503
        assert shed.headers["content-type"] == "application/problem+json"
        assert shed.headers["retry-after"] == "1"
        problem = shed.json()
        assert problem["type"] == OVERLOADED_TYPE
        assert problem["status"] == 503
        assert problem["title"] == "Service Unavailable"
        assert problem["instance"] == "/api/v1/products"
        assert problem["request_id"] == shed.headers["x-request-id"]
        # The probes are never refused: a busy gateway is alive, and is scraped.
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert (await gw.client.get(probe)).status_code == 200, probe
    # The load is gone: served again (the share falls to nothing within about a second).
    served = await _until_status(gw.client, "/api/v1/products", 200)
    assert served.status_code == 200
    assert served.json()["service"] == "catalog"
    assert await _shed_so_far(gw) >= before + 1


async def test_a_gateway_with_shedding_off_never_sheds(gateway: GatewayFactory) -> None:
    gw = await gateway(**{**_QUICK, "shed_enabled": False})
    statuses = set()
    async with _blocking_the_loop():
        deadline = time.monotonic() + 2  # many times the threshold and the interval
        while time.monotonic() < deadline:
            statuses.add((await gw.client.get("/api/v1/products")).status_code)
    assert statuses == {200}


async def test_one_long_block_is_a_spike_and_sheds_nothing(gateway: GatewayFactory) -> None:
    gw = await gateway(**_QUICK)
    time.sleep(1.0)  # one block ten times the interval: not sustained overload
    answers = [await gw.client.get("/api/v1/products") for _ in range(20)]
    assert {a.status_code for a in answers} == {200}


def test_the_lag_must_stay_over_the_target_for_the_whole_interval() -> None:
    policy = ShedPolicy(target=0.5, interval=2.0)
    assert policy.observe(3.0, now=10.0) is None  # one late wake-up, however late
    assert policy.observe(0.1, now=10.2) is None  # ...then caught up: the clock restarts
    assert policy.observe(0.6, now=11.0) is None
    assert policy.observe(0.7, now=12.0) is None
    assert not policy.shedding
    assert policy.observe(0.8, now=13.0) is True  # over the target for 2 s
    assert policy.shedding


def test_the_share_rises_while_lagging_and_the_episode_ends_after_it_is_back_to_zero() -> None:
    policy = ShedPolicy(target=0.5, interval=2.0)
    for second in range(3):
        policy.observe(1.0, now=float(second))
    assert policy.active
    first = policy.share
    policy.observe(1.0, now=3.0)
    assert policy.share > first
    now = 3.0
    while policy.share > 0:
        now += 0.05
        assert policy.observe(0.0, now=now) is None
    assert now < 4.5  # refusing stops within about a second of catching up
    assert policy.active  # armed a while: a relapse sheds at once, without a new interval
    assert policy.observe(0.0, now=now + 2.1) is False
    assert not policy.active
    assert not policy.shedding
