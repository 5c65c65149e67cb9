"""The storefront owns its pages' Content-Security-Policy; the API keeps the gateway's."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from emporium.gateway.security_headers import SecurityHeadersMiddleware, page_policy
from emporium.gateway.testing import GatewayFactory, Servers

SHOP_POLICY = "default-src 'self'; img-src 'self' blob:; form-action 'self'; base-uri 'none'"
GATEWAY_POLICY = "frame-ancestors 'none'"


def test_a_page_policy_gets_frame_ancestors_only_when_it_has_none() -> None:
    assert page_policy(b"default-src 'self'") == b"default-src 'self'; frame-ancestors 'none'"
    assert page_policy(b"default-src 'self'; ") == b"default-src 'self'; frame-ancestors 'none'"
    own = b"default-src 'self'; Frame-Ancestors 'self'"
    assert page_policy(own) == own


def _storefront() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def home() -> Response:
        return HTMLResponse("<p>shop</p>", headers={"Content-Security-Policy": SHOP_POLICY})

    @app.get("/plain")
    async def plain() -> Response:
        return HTMLResponse("<p>no policy of its own</p>")

    return app


async def test_forwarded_pages_keep_their_own_policy(gateway: GatewayFactory) -> None:
    servers = Servers()
    url = await servers.start(_storefront())
    try:
        gw = await gateway(storefront_url=url)
        home = await gw.client.get("/")
        assert home.status_code == 200
        assert home.headers.get_list("content-security-policy") == [
            SHOP_POLICY + "; frame-ancestors 'none'"
        ]
        assert home.headers["x-frame-options"] == "DENY"
        plain = await gw.client.get("/plain")
        assert plain.headers.get_list("content-security-policy") == [GATEWAY_POLICY]
        # The API's answers and the gateway's own pages keep the gateway's policy.
        for path in ("/api/v1/products", "/api/v1/nowhere", "/healthz"):
            answer = await gw.client.get(path)
            assert answer.headers.get_list("content-security-policy") == [GATEWAY_POLICY], path
    finally:
        await servers.stop()


async def test_an_api_answer_cannot_bring_its_own_policy() -> None:
    """A service (or anything under /api) that sends a policy gets the gateway's instead:
    a script-allowing policy on a JSON answer would be the service's mistake to undo."""
    inner = FastAPI()

    @inner.get("/{path:path}")
    async def anything(path: str) -> Response:
        return Response("{}", headers={"Content-Security-Policy": "script-src *"})

    app = SecurityHeadersMiddleware(inner)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        for path in ("/api/v1/products", "/api", "/api/v1"):
            answer = await client.get(path)
            assert answer.headers.get_list("content-security-policy") == [GATEWAY_POLICY], path
        page = await client.get("/apiary")  # not under /api: a page's own
        assert page.headers.get_list("content-security-policy") == [
            "script-src *; frame-ancestors 'none'"
        ]
