"""The proxy itself: streaming both ways, headers in and out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from emporium.gateway.testing import GatewayFactory
from emporium.kit.testing.polling import eventually


async def test_a_chunked_answer_arrives_chunk_by_chunk(gateway: GatewayFactory) -> None:
    gw = await gateway()
    catalog = gw.services["catalog"]
    async with gw.client.stream("GET", "/api/v1/media/_stream") as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        # Each chunk is read through the gateway before the next one exists upstream.
        for part in (b"first", b"second", b"third"):
            catalog.chunks.put_nowait(part)
            assert await anext(chunks) == part
        catalog.chunks.put_nowait(None)
        assert [chunk async for chunk in chunks] == []


async def test_server_sent_events_stream_through_and_may_stay_quiet(
    gateway: GatewayFactory,
) -> None:
    import asyncio

    gw = await gateway(upstream_timeouts={"orders": 0.3})
    orders = gw.services["orders"]
    async with gw.client.stream("GET", "/api/v1/orders/7/events", headers=gw.bearer()) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_raw()
        orders.chunks.put_nowait(b"event: status\ndata: pending\n\n")
        assert await anext(lines) == b"event: status\ndata: pending\n\n"
        # Quiet for longer than the orders timeout: an event stream is not cut for that.
        await asyncio.sleep(0.6)
        orders.chunks.put_nowait(b"event: status\ndata: confirmed\n\n")
        assert await anext(lines) == b"event: status\ndata: confirmed\n\n"
        orders.chunks.put_nowait(None)


async def test_a_client_leaving_an_event_stream_closes_it_upstream(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    orders = gw.services["orders"]
    async with gw.client.stream("GET", "/api/v1/orders/7/events", headers=gw.bearer()) as stream:
        orders.chunks.put_nowait(b"data: pending\n\n")
        assert await anext(stream.aiter_raw()) == b"data: pending\n\n"
    # The client hung up: the gateway lets go of the service's stream too.

    async def ended() -> bool:
        return orders.streams_ended == 1

    await eventually(ended, timeout=10)


async def test_a_request_body_streams_to_the_service(gateway: GatewayFactory) -> None:
    gw = await gateway()

    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16384

    response = await gw.client.post(
        "/api/v1/admin/products/1/images", content=body(), headers=gw.bearer("admin")
    )
    assert response.status_code == 200
    assert response.json()["body_bytes"] == 64 * 16384


async def test_a_body_over_the_limit_is_refused_with_413(gateway: GatewayFactory) -> None:
    gw = await gateway(max_body_bytes=1000)
    response = await gw.client.post(
        "/api/v1/auth/register", content=b"x" * 2000, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert gw.services["customers"].hits == 0


async def test_hop_by_hop_headers_are_dropped_both_ways(gateway: GatewayFactory) -> None:
    gw = await gateway()
    echo = (
        await gw.client.get(
            "/api/v1/products",
            headers={
                "Connection": "keep-alive, x-private",
                "X-Private": "1",
                "TE": "trailers",
                "Proxy-Authorization": "Basic eA==",
                "X-Public": "2",
            },
        )
    ).json()["headers"]
    assert "x-private" not in echo
    assert "te" not in echo
    assert "proxy-authorization" not in echo
    assert echo["x-public"] == "2"
    assert echo["host"] != "testserver"

    response = await gw.client.get("/api/v1/media/_hop")
    assert response.headers["x-kept"] == "yes"
    assert "x-secret" not in response.headers
    assert "keep-alive" not in response.headers


async def test_request_id_and_trace_context_are_forwarded(gateway: GatewayFactory) -> None:
    gw = await gateway()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await gw.client.get(
        "/api/v1/products",
        headers={"X-Request-Id": "req-123", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    echo = response.json()["headers"]
    assert response.headers["x-request-id"] == "req-123"
    assert echo["x-request-id"] == "req-123"
    _, forwarded_trace, parent, _flags = echo["traceparent"].split("-")
    assert forwarded_trace == trace_id  # the same trace ...
    assert parent != "00f067aa0ba902b7"  # ... continued by the gateway's span


async def test_request_id_and_trace_context_are_created_when_missing(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    response = await gw.client.get("/api/v1/products")
    echo = response.json()["headers"]
    assert echo["x-request-id"] == response.headers["x-request-id"]
    assert len(echo["traceparent"].split("-")) == 4


async def test_forwarded_headers_name_the_client(gateway: GatewayFactory) -> None:
    gw = await gateway()
    echo = (await gw.client.get("/api/v1/products")).json()["headers"]
    assert echo["x-forwarded-for"] == "127.0.0.1"
    assert echo["x-forwarded-proto"] == "http"
    assert echo["x-forwarded-host"] == gw.url.removeprefix("http://")


async def test_cors_preflight_for_a_configured_storefront(gateway: GatewayFactory) -> None:
    gw = await gateway(cors_origins=["https://shop.example"])
    preflight = await gw.client.options(
        "/api/v1/cart",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    other = await gw.client.get("/api/v1/products", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
