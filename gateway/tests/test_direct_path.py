"""Proxied calls without a body go straight to the proxy, past the router: what a client and
an operator see of them stays the same (problem answers with the request id and security
headers, the access log line under the route's label), and bodies still take the router's
way with their size limit."""

from __future__ import annotations

import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from emporium.gateway.proxy import ErrorAnswers, Gateway
from emporium.gateway.testing import GatewayFactory
from emporium.kit.errors import NotFound, ProblemError


async def test_a_call_without_a_token_is_a_401_problem_with_the_request_id(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    answer = await gw.client.get("/api/v1/orders", headers={"X-Request-Id": "direct-401"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-request-id"] == "direct-401"
    assert answer.json()["request_id"] == "direct-401"
    assert answer.json()["instance"] == "/api/v1/orders"
    assert answer.headers["x-frame-options"] == "DENY"


async def test_a_path_no_route_serves_is_a_404_problem(gateway: GatewayFactory) -> None:
    gw = await gateway()
    answer = await gw.client.get("/api/v1/nothing-here", headers=gw.bearer())
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_the_gateways_own_api_document_is_still_served(gateway: GatewayFactory) -> None:
    gw = await gateway()
    answer = await gw.client.get("/api/v1/openapi.json")
    assert answer.status_code in (200, 503)  # 503 problem while a service's document is away
    assert answer.headers["content-type"].startswith("application/")


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id(
    gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await gateway()

    async def broken(self: Gateway, request: Request) -> Response:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Gateway, "handle", broken)
    answer = await gw.client.get(
        "/api/v1/products/p1", headers={**gw.bearer(), "X-Request-Id": "direct-500"}
    )
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["request_id"] == "direct-500"
    assert "a bug" not in answer.text


async def test_a_proxied_get_is_logged_under_its_route(
    gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await gateway()
    with caplog.at_level(logging.INFO, logger="emporium.access"):
        answer = await gw.client.get("/api/v1/products/p1?x=1", headers=gw.bearer())
    assert answer.status_code == 200
    lines = [r for r in caplog.records if r.name == "emporium.access"]
    assert [r.getMessage().rsplit(" ", 1)[0] for r in lines] == ["GET /api/v1/products/p1 200"]
    assert lines[0].__dict__["route"] == "/api/v1/products"
    assert lines[0].__dict__["status"] == 200


async def test_a_body_still_reaches_the_service_and_its_limit_still_holds(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(max_body_bytes=100)
    small = await gw.client.post("/api/v1/cart/items", content=b"x" * 50, headers=gw.bearer())
    assert small.status_code == 200
    assert small.json()["body_bytes"] == 50
    big = await gw.client.post("/api/v1/cart/items", content=b"x" * 500, headers=gw.bearer())
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"


async def _on_problem(request: Request, error: Exception) -> Response:
    return PlainTextResponse("problem", status_code=418)


async def _on_http(request: Request, error: Exception) -> Response:
    return PlainTextResponse("http", status_code=400)


def _on_404(request: Request, error: Exception) -> Response:  # a plain function, too
    return PlainTextResponse("status 404", status_code=404)


async def test_errors_are_answered_by_the_handler_starlette_would_pick() -> None:
    errors = ErrorAnswers(
        {ProblemError: _on_problem, HTTPException: _on_http, 404: _on_404, Exception: _on_http}
    )
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    assert (await errors.answer(request, NotFound("gone"))).body == b"problem"  # by its MRO
    assert (await errors.answer(request, HTTPException(400))).body == b"http"
    assert (await errors.answer(request, HTTPException(404))).body == b"status 404"
    with pytest.raises(RuntimeError):  # ``Exception`` is the outermost middleware's
        await errors.answer(request, RuntimeError("a bug"))
