"""The gateway's front line: authenticated calls and writes beyond its limit wait their
turn and are served while the services answer; one that cannot start in time gets 503
problem details at once; probes, anonymous reads and event streams never wait in it."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from emporium.gateway.admission import Admission, Busy
from emporium.gateway.shedding import OVERLOADED_TYPE, in_line
from emporium.gateway.testing import GatewayFactory, Servers

from .fake_upstream import FakeUpstream

_LINE = {"shed_enabled": True, "rate_limit_enabled": False, "response_cache_seconds": 0}


async def test_calls_beyond_the_limit_wait_their_turn_and_are_all_served(
    gateway: GatewayFactory, servers: Servers
) -> None:
    upstream = FakeUpstream(delay=0.005, held="held")
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        shed_max_in_flight=2,
        shed_queue_seconds=60,
        **_LINE,
    )
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=gw.url, timeout=60, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.get(f"/api/v1/media/m{i}", headers=gw.bearer()) for i in range(100))
        )
    assert {a.status_code for a in answers} == {200}
    assert upstream.most <= 2  # two at a time went through; the others waited, not refused


async def test_a_call_that_cannot_start_in_time_gets_503_problem_details(
    gateway: GatewayFactory, servers: Servers
) -> None:
    upstream = FakeUpstream(held="held")
    upstream.gate.clear()
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        shed_max_in_flight=1,
        shed_queue_seconds=0.2,
        **_LINE,
    )
    held = asyncio.create_task(gw.client.get("/api/v1/media/held", headers=gw.bearer()))
    while upstream.running == 0:
        await asyncio.sleep(0.01)
    refused = await gw.client.get("/api/v1/media/next", headers=gw.bearer())
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    problem = refused.json()
    assert problem["type"] == OVERLOADED_TYPE
    assert problem["status"] == 503
    assert problem["title"] == "Service Unavailable"
    assert problem["instance"] == "/api/v1/media/next"
    assert problem["request_id"] == refused.headers["x-request-id"]
    # Meanwhile the probes, the scrape and anonymous reads never wait in the line.
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert (await gw.client.get(probe)).status_code == 200, probe
    assert (await gw.client.get("/api/v1/media/anonymous")).status_code == 200
    upstream.gate.set()
    assert (await held).status_code == 200
    # The line moved on: the next call is served.
    assert (await gw.client.get("/api/v1/media/after", headers=gw.bearer())).status_code == 200


def _shed(metrics: str, reason: str) -> float:
    prefix = f'emporium_gateway_shed_total{{reason="{reason}"}} '
    return next(
        float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix)
    )


async def test_a_call_refused_on_arrival_gets_the_same_problem_before_the_request_context(
    gateway: GatewayFactory, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emporium.access")
    upstream = FakeUpstream(held="held")
    upstream.gate.clear()
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        shed_max_in_flight=1,
        shed_queue_length=0,  # nobody may wait: the next call is refused on arrival
        **_LINE,
    )
    held = asyncio.create_task(gw.client.get("/api/v1/media/held", headers=gw.bearer()))
    while upstream.running == 0:
        await asyncio.sleep(0.01)
    before = _shed((await gw.client.get("/metrics")).text, "full")
    given = {**gw.bearer(), "X-Request-Id": "shopper-42"}
    refused = await gw.client.get("/api/v1/media/next", headers=given)
    fresh = await gw.client.post("/api/v1/cart/items", json={}, headers=gw.bearer())
    for answer, path in ((refused, "/api/v1/media/next"), (fresh, "/api/v1/cart/items")):
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["x-content-type-options"] == "nosniff"  # security headers too
        problem = answer.json()
        assert problem["type"] == OVERLOADED_TYPE
        assert problem["instance"] == path
        assert problem["request_id"] == answer.headers["x-request-id"]
    assert refused.headers["x-request-id"] == "shopper-42"  # the caller's own id, echoed
    assert fresh.headers["x-request-id"] != "shopper-42"
    assert _shed((await gw.client.get("/metrics")).text, "full") == before + 2
    assert upstream.running == 1  # neither reached the upstream
    upstream.gate.set()
    assert (await held).status_code == 200
    # The slot is free again: the next call is served, not refused.
    assert (await gw.client.get("/api/v1/media/after", headers=gw.bearer())).status_code == 200
    # Answered before the request context: no access log line each (they are counted, and
    # logged as one line a second with how many); the calls served have theirs.
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "emporium.access")
    assert "/media/held 200" in logged
    assert "/media/after 200" in logged
    assert "/media/next" not in logged
    assert "/cart/items" not in logged


async def test_a_gateway_without_the_line_lets_every_call_through(
    gateway: GatewayFactory, servers: Servers
) -> None:
    upstream = FakeUpstream(delay=0.01, held="held")
    gw = await gateway(
        catalog_url=await servers.start(upstream.app()),
        **{**_LINE, "shed_enabled": False},
    )
    answers = await asyncio.gather(
        *(gw.client.get(f"/api/v1/media/m{i}", headers=gw.bearer()) for i in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert upstream.most > 1


def _scope(method: str, path: str, *, token: bool = False) -> dict[str, object]:
    headers = [(b"authorization", b"Bearer x")] if token else []
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


@pytest.mark.parametrize(
    ("method", "path", "token", "waits"),
    [
        ("GET", "/healthz", True, False),
        ("GET", "/metrics", False, False),
        ("GET", "/api/v1/products", False, False),  # an anonymous read: a hit or one fetch
        ("HEAD", "/api/v1/products/p1", False, False),
        ("GET", "/api/v1/orders/o1/events", True, False),  # a stream: its own pool and cap
        ("GET", "/api/v1/orders/o1", True, True),
        ("GET", "/api/v1/products/p1", True, True),
        ("POST", "/api/v1/auth/token", False, True),
        ("PUT", "/api/v1/cart/items/p1", True, True),
    ],
)
def test_what_waits_in_the_line(method: str, path: str, token: bool, waits: bool) -> None:
    assert in_line(_scope(method, path, token=token)) is waits  # type: ignore[arg-type]


# -- the line's early refusal --------------------------------------------------------------


async def test_a_newcomer_whose_turn_would_come_too_late_is_refused_on_arrival() -> None:
    line = Admission(1, max_waiting=100, wait_seconds=2, early=True)
    await line.acquire()
    waiters = [asyncio.create_task(line.acquire()) for _ in range(40)]
    await asyncio.sleep(0)
    # The line moves at about ten a second: measured over more than one window.
    for _ in range(7):
        await asyncio.sleep(0.1)
        line.release()
    asked = line.refusal()  # what the arrival gate asks: the same answer, nothing taken
    assert asked is not None
    assert asked.late
    with pytest.raises(Busy) as refused:
        await line.acquire()  # 33 ahead at ~10 a second: over 2 s, so not even queued
    assert refused.value.late
    assert not refused.value.waited
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)


async def test_a_turn_bound_under_the_wait_keeps_the_line_that_short() -> None:
    line = Admission(1, max_waiting=100, wait_seconds=30, early=True, turn_seconds=1)
    await line.acquire()
    waiters = [asyncio.create_task(line.acquire()) for _ in range(40)]
    await asyncio.sleep(0)
    for _ in range(7):  # about ten a second again
        await asyncio.sleep(0.1)
        line.release()
    with pytest.raises(Busy) as refused:
        await line.acquire()  # ~3 s off: within the 30 s wait, past the 1 s turn
    assert refused.value.late
    assert refused.value.reason == "late"
    for task in waiters[:7]:
        await task  # handed a slot
    for task in waiters[15:]:
        task.cancel()  # 8 of the 33 in line remain: a turn ~0.8 s off, so a newcomer queues
    await asyncio.sleep(0)
    newcomer = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    assert not newcomer.done()
    for _ in range(9):
        line.release()
    await asyncio.wait_for(newcomer, 5)
    await asyncio.gather(*waiters, return_exceptions=True)


async def test_without_early_a_newcomer_waits_for_its_turn() -> None:
    line = Admission(1, max_waiting=100, wait_seconds=30)
    await line.acquire()
    waiters = [asyncio.create_task(line.acquire()) for _ in range(20)]
    await asyncio.sleep(0)
    for _ in range(8):
        await asyncio.sleep(0.1)
        line.release()
    late = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    assert not late.done()  # waiting, not refused
    for _ in range(13):
        line.release()
    await asyncio.wait_for(late, 5)
    await asyncio.gather(*waiters)


async def test_a_burst_on_an_idle_line_is_not_refused_on_a_guess() -> None:
    line = Admission(1, max_waiting=100, wait_seconds=30, early=True)
    await line.acquire()
    # No pace measured yet (the line just formed): everyone waits, nobody is refused.
    waiters = [asyncio.create_task(line.acquire()) for _ in range(50)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiters)
    assert line.refusal() is None
    for _ in range(50):
        line.release()
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)
    assert line.in_use == 1
