"""Admission: requests over the cap wait briefly for a slot, then get a 503 problem.

A small ASGI app whose endpoint holds its request until the test lets it go stands in for
orders' routes; the middleware is the one orders runs.
"""

from __future__ import annotations

import asyncio

from httpx import ASGITransport, AsyncClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emporium.orders.admission import Admission, Gate


def _app(release: asyncio.Event, *, limit: int, wait_seconds: float) -> Admission:
    async def slow(_request: Request) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("done")

    async def probe(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(
        routes=[
            Route("/orders", slow),
            Route("/healthz", probe),
            Route("/orders/{order_id}/events", probe),
        ]
    )
    return Admission(inner, limit=limit, wait_seconds=wait_seconds)


async def _until(check: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def test_a_request_over_the_cap_gets_503_problem_details_once_its_wait_ends() -> None:
    release = asyncio.Event()
    app = _app(release, limit=2, wait_seconds=0.05)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://orders") as client:
        held = [asyncio.create_task(client.get("/orders")) for _ in range(2)]
        await _until(lambda: app.gate.in_flight == 2)

        refused = await client.get("/orders")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "https://emporium.dev/problems/service-unavailable"

        # Probes and event streams are never held back.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/orders/1/events")).status_code == 200

        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await client.get("/orders")).status_code == 200
    assert app.gate.in_flight == 0


async def test_a_waiting_request_is_served_when_a_slot_comes_free_in_time() -> None:
    release = asyncio.Event()
    app = _app(release, limit=1, wait_seconds=10)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://orders") as client:
        first = asyncio.create_task(client.get("/orders"))
        await _until(lambda: app.gate.in_flight == 1)
        second = asyncio.create_task(client.get("/orders"))
        await _until(lambda: len(app.gate._waiters) == 1)
        release.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
    assert app.gate.in_flight == 0


async def test_the_gate_hands_slots_to_waiters_first_come_first_served() -> None:
    gate = Gate(1)
    assert await gate.enter(0)
    order: list[str] = []

    async def waiter(name: str) -> None:
        assert await gate.enter(5)
        order.append(name)
        gate.leave()

    tasks = [asyncio.create_task(waiter(name)) for name in ("a", "b", "c")]
    await _until(lambda: len(gate._waiters) == 3)
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert gate.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    gate = Gate(1)
    assert await gate.enter(0)
    waiting = asyncio.create_task(gate.enter(5))
    await _until(lambda: len(gate._waiters) == 1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert not gate._waiters
    gate.leave()
    assert gate.in_flight == 0
    assert await gate.enter(0)
