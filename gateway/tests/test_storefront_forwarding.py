"""The gateway passes every path that is not its own to the web storefront (one origin)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from emporium.gateway.testing import GatewayFactory, Servers, raw_request


def _fake_storefront(seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}/events")
    async def events(order_id: str) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"event: status\ndata: {}\n\n"
            await asyncio.sleep(0.5)  # longer than the gateway's timeout below
            yield b"event: status\ndata: {}\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    @app.post("/admin/products/{product_id}/images")
    async def upload(product_id: str, request: Request) -> Response:
        await request.body()
        await asyncio.sleep(0.5)  # the API storing the image: longer than the timeout below
        return Response(status_code=303, headers={"Location": f"/admin/products/{product_id}"})

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> Response:
        body = await request.body()
        seen.append(
            {
                "path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "xff": request.headers.getlist("x-forwarded-for"),
                "cookie": request.headers.get("cookie"),
                "body": body.decode(),
            }
        )
        if path == "signin" and request.method == "POST":
            return Response(status_code=303, headers={"Location": "/", "Set-Cookie": "s=1"})
        return JSONResponse({"page": path}, headers={"Cache-Control": "private, no-store"})

    return app


async def _with_storefront(
    gateway: GatewayFactory, **settings: Any
) -> tuple[Any, list[dict[str, Any]], Servers]:
    seen: list[dict[str, Any]] = []
    servers = Servers()
    url = await servers.start(_fake_storefront(seen))
    gw = await gateway(storefront_url=url, **settings)
    return gw, seen, servers


async def test_the_shop_pages_cookies_and_redirects_pass_through(gateway: GatewayFactory) -> None:
    gw, seen, servers = await _with_storefront(gateway)
    try:
        home = await gw.client.get("/", headers={"Cookie": "s=0"})
        assert home.status_code == 200
        assert home.json() == {"page": ""}
        assert seen[-1]["cookie"] == "s=0"
        page = await gw.client.get("/search", params={"q": "red lamp", "page": "2"})
        assert page.json() == {"page": "search"}
        assert seen[-1]["query"] == "q=red%20lamp&page=2"
        posted = await gw.client.post("/signin", data={"email": "a@b.test"})
        assert posted.status_code == 303  # not followed by the gateway
        assert posted.headers["location"] == "/"
        assert posted.headers["set-cookie"] == "s=1"
        assert seen[-1]["body"] == "email=a%40b.test"
        # The gateway's security headers are on the shop's pages too.
        assert home.headers["x-frame-options"] == "DENY"
    finally:
        await servers.stop()


async def test_the_gateways_own_paths_never_reach_the_storefront(gateway: GatewayFactory) -> None:
    gw, seen, servers = await _with_storefront(gateway)
    try:
        assert (await gw.client.get("/healthz")).json()["status"] == "ok"
        assert (await gw.client.get("/docs")).status_code == 200
        for path in ("/api/v1", "/api", "/api/v2/products", "/api/v1/nothing-here"):
            answer = await gw.client.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"] == "application/problem+json", path
        assert seen == []
    finally:
        await servers.stop()


async def test_a_path_attack_is_refused_before_the_storefront(gateway: GatewayFactory) -> None:
    gw, seen, servers = await _with_storefront(gateway)
    try:
        for target in (b"/static/%2e%2e/secret", b"/static/..%2Fsecret", b"/a//b", b"/%40evil"):
            answer = await raw_request(gw.url, target)
            assert answer.status == 400, target
        answer = await raw_request(gw.url, b"/static/../api/v1/products")
        assert answer.status == 400
        assert seen == []
    finally:
        await servers.stop()


async def test_the_client_address_is_the_gateways_resolved_one(gateway: GatewayFactory) -> None:
    gw, seen, servers = await _with_storefront(gateway)
    try:
        await gw.client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert seen[-1]["xff"] == ["127.0.0.1"]  # no trusted proxy: the claim is dropped
    finally:
        await servers.stop()


async def test_an_event_stream_may_pause_longer_than_the_timeout(gateway: GatewayFactory) -> None:
    gw, _, servers = await _with_storefront(gateway, upstream_timeout_seconds=0.2)
    try:
        answer = await gw.client.get("/orders/1/events")
        assert answer.status_code == 200
        assert answer.text.count("event: status") == 2
    finally:
        await servers.stop()


async def test_an_upload_page_may_answer_later_than_the_timeout(gateway: GatewayFactory) -> None:
    gw, _, servers = await _with_storefront(
        gateway, upstream_timeout_seconds=0.2, upload_timeout_seconds=5.0
    )
    try:
        picture = {"file": ("p.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 1024, "image/png")}
        sent = await gw.client.post("/admin/products/1/images", files=picture)
        assert sent.status_code == 303
        slow_form = await gw.client.post("/admin/products/1/images", data={"a": "b"})
        assert slow_form.status_code == 504  # not an upload: the storefront's own 0.2 s
    finally:
        await servers.stop()


async def test_without_a_storefront_other_paths_are_a_404_problem(gateway: GatewayFactory) -> None:
    gw = await gateway()
    answer = await gw.client.get("/")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_storefront_that_is_away_is_a_503(gateway: GatewayFactory) -> None:
    from emporium.gateway.testing import free_port

    gw = await gateway(storefront_url=f"http://127.0.0.1:{free_port()}")
    answer = await gw.client.get("/")
    assert answer.status_code == 503
    # The API still serves: the storefront is not critical to readiness.
    assert (await gw.client.get("/readyz")).status_code == 200
