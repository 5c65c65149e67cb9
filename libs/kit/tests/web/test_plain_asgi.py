"""The middleware works on any ASGI app (the gateway is not built by create_app)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emporium.kit.errors import PROBLEM_CONTENT_TYPE
from emporium.kit.middleware import RequestContextMiddleware, RequestSizeLimitMiddleware


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def fail(request: Request) -> PlainTextResponse:
    raise RuntimeError("plain failure")


def plain_app(service: str) -> Starlette:
    return Starlette(
        routes=[Route("/echo", echo, methods=["POST"]), Route("/fail", fail)],
        middleware=[
            Middleware(RequestContextMiddleware, service=service),
            Middleware(RequestSizeLimitMiddleware, max_body_bytes=10),
        ],
    )


async def test_plain_starlette_app_gets_ids_limits_and_problem_errors(unique: str) -> None:
    transport = httpx.ASGITransport(app=plain_app(unique))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/echo", content=b"0123456789", headers={"X-Request-Id": "r-1"})
        large = await client.post("/echo", content=b"0123456789!")
        failed = await client.get("/fail")

    assert ok.status_code == 200
    assert ok.text == "10"
    assert ok.headers["x-request-id"] == "r-1"
    assert large.status_code == 413
    assert large.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert failed.status_code == 500
    assert failed.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert failed.json()["request_id"] == failed.headers["x-request-id"]
    assert "plain failure" not in failed.text


async def own_id(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers={"X-Request-Id": "the app's own", "X-Other": "kept"})


async def test_the_request_id_replaces_one_the_app_set_and_keeps_other_headers(
    unique: str,
) -> None:
    app = Starlette(
        routes=[Route("/own", own_id)],
        middleware=[Middleware(RequestContextMiddleware, service=unique)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/own", headers={"X-Request-Id": "r-2"})

    assert response.headers.get_list("x-request-id") == ["r-2"]
    assert response.headers["x-other"] == "kept"
    assert response.text == "ok"
