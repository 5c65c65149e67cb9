"""A service killed during the run: its routes answer 503 problem+json, the others carry on.

SIGKILL (a crash: no shutdown, connections reset) of orders, then of catalog, each behind the
running gateway; then the service is started again and its routes recover. Needs the
processes of this run (``live_controls``): skipped against ``EMPORIUM_E2E_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emporium.kit.testing.polling import eventually

pytestmark = pytest.mark.e2e

#: The gateway's upstream timeout is 5 s here; a refused connection answers well before.
ANSWER_WITHIN = 15.0


@pytest.fixture
async def customer(live_controls: Any) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    async with httpx.AsyncClient(
        base_url=live_controls.api, timeout=ANSWER_WITHIN, headers={"X-Forwarded-For": ip}
    ) as http:
        email = f"outage-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
        password = "outage password 1"
        registered = await http.post(
            "/auth/register", json={"email": email, "password": password, "name": "Out Age"}
        )
        assert registered.status_code == 201, registered.text
        token = await http.post("/auth/token", json={"email": email, "password": password})
        assert token.status_code == 200, token.text
        yield http, {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 503


@pytest.mark.parametrize(
    ("service", "down", "up"),
    [
        ("orders", ("/cart", "/orders"), ("/products", "/categories", "/me")),
        ("catalog", ("/products", "/categories"), ("/cart", "/me")),
    ],
)
async def test_a_killed_service_gives_503_while_the_others_answer_and_then_recovers(
    live_controls: Any,
    customer: tuple[httpx.AsyncClient, dict[str, str]],
    service: str,
    down: tuple[str, ...],
    up: tuple[str, ...],
) -> None:
    http, auth = customer
    for path in (*down, *up):
        assert (await http.get(path, headers=auth)).status_code == 200, path

    live_controls.kill(service)
    try:
        # Anonymous catalog reads may come from the response cache: ask for a fresh page.
        for path in down:
            response, took = await _timed(
                http.get(path, headers=auth, params={"limit": random.randint(2, 99)})
                if path == "/products"
                else http.get(path, headers=auth)
            )
            _unavailable(response)
            assert took < ANSWER_WITHIN
        answers = await asyncio.gather(*(http.get(path, headers=auth) for path in up))
        assert [r.status_code for r in answers] == [200] * len(up)
    finally:
        await asyncio.to_thread(live_controls.restart, service)

    async def recovered() -> bool:
        for path in down:
            response = await http.get(path, headers=auth)
            assert response.status_code == 200, (path, response.text)
        return True

    # The gateway's breaker lets a trial call through after its reset time.
    await eventually(recovered, timeout=30, interval=0.5)
