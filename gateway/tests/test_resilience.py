"""An upstream that is down, slow or broken: a quick problem+json, and the rest still works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from emporium.gateway.testing import FakeService, GatewayFactory, free_port, serving
from emporium.kit.testing.polling import eventually


async def test_a_service_that_is_down_gives_503_quickly_while_others_answer(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(catalog_url=f"http://127.0.0.1:{free_port()}")
    begun = time.monotonic()
    down = await gw.client.get("/api/v1/products")
    assert time.monotonic() - begun < 5
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert int(down.headers["retry-after"]) >= 1
    problem = down.json()
    assert problem["type"].endswith("/upstream-unavailable")
    assert problem["upstream"] == "catalog"
    assert problem["request_id"] == down.headers["x-request-id"]
    assert (await gw.client.get("/api/v1/me", headers=gw.bearer())).status_code == 200


async def test_a_slow_service_gives_504_within_its_timeout(gateway: GatewayFactory) -> None:
    gw = await gateway(upstream_timeouts={"catalog": 0.3})
    begun = time.monotonic()
    slow = await gw.client.get("/api/v1/media/_slow")
    assert time.monotonic() - begun < 3
    assert slow.status_code == 504
    assert slow.json()["type"].endswith("/upstream-timeout")
    assert (await gw.client.get("/api/v1/cart", headers=gw.bearer())).status_code == 200


async def test_a_service_answering_nonsense_gives_502(gateway: GatewayFactory) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gw = await gateway(catalog_url=f"http://127.0.0.1:{port}")
        answer = await gw.client.get("/api/v1/products")
        assert answer.status_code == 502
        assert answer.headers["content-type"] == "application/problem+json"
    finally:
        server.close()
        await server.wait_closed()


async def test_only_idempotent_calls_are_retried(gateway: GatewayFactory) -> None:
    # 3 failures open the breaker. A GET is tried 1 + 2 times: one GET opens it. A POST is
    # tried once: two POSTs leave it closed.
    url = f"http://127.0.0.1:{free_port()}"
    gw = await gateway(customers_url=url, upstream_retries=2, breaker_failure_threshold=3)
    admin = gw.bearer("admin")
    for _ in range(2):
        posted = await gw.client.post("/api/v1/auth/register", json={})
        assert "not available" in posted.json()["detail"]
    await gw.client.get("/api/v1/admin/customers", headers=admin)  # the 3rd failure: open
    refused = await gw.client.post("/api/v1/auth/register", json={})
    assert refused.status_code == 503
    assert "not answering" in refused.json()["detail"]  # refused by the open breaker

    gw2 = await gateway(customers_url=url, upstream_retries=2, breaker_failure_threshold=3)
    await gw2.client.get("/api/v1/admin/customers", headers=gw2.bearer("admin"))
    after_one_get = await gw2.client.post("/api/v1/auth/register", json={})
    assert "not answering" in after_one_get.json()["detail"]


async def test_the_breaker_opens_then_lets_a_recovered_service_back(
    gateway: GatewayFactory,
) -> None:
    port = free_port()
    gw = await gateway(
        catalog_url=f"http://127.0.0.1:{port}",
        upstream_retries=0,
        breaker_failure_threshold=2,
        breaker_reset_seconds=0.5,
    )
    for _ in range(2):
        assert (await gw.client.get("/api/v1/products")).status_code == 503
    open_answer = await gw.client.get("/api/v1/products")
    assert "not answering" in open_answer.json()["detail"]

    catalog = FakeService("catalog")
    async with serving(catalog.app(), port=port):

        async def back() -> bool:
            return (await gw.client.get("/api/v1/categories")).status_code == 200

        await eventually(back, timeout=10)
        catalog.stop()


async def test_an_upload_still_flowing_is_not_timed_out(gateway: GatewayFactory) -> None:
    gw = await gateway(upstream_timeouts={"catalog": 0.4})

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(5):  # 5 x 0.2 s: longer than the timeout in all, never idle that long
            yield b"x" * 1000
            await asyncio.sleep(0.2)

    response = await gw.client.post(
        "/api/v1/admin/products/1/images", content=slow_body(), headers=gw.bearer("admin")
    )
    assert response.status_code == 200
    assert response.json()["body_bytes"] == 5000
