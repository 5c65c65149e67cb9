"""Security headers on every answer; one Date and one Server on proxied answers."""

from __future__ import annotations

from emporium.gateway.security_headers import security_headers
from emporium.gateway.testing import GatewayFactory, raw_request

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}


def test_hsts_only_when_asked_for() -> None:
    assert b"strict-transport-security" not in dict(security_headers(0))
    assert dict(security_headers(31536000))[b"strict-transport-security"] == b"max-age=31536000"


async def test_every_answer_carries_them_once(gateway: GatewayFactory) -> None:
    gw = await gateway(cors_origins=["https://shop.example"])
    targets = [
        b"/api/v1/products",  # proxied
        b"/api/v1/media/_hop",  # proxied, not JSON
        b"/api/v1/nowhere",  # 404 problem
        b"/api/v1/products/../metrics",  # 400 problem
        b"/api/v1/cart",  # 401 problem
        b"/healthz",
        b"/docs",
        b"/api/v1/openapi.json",
    ]
    for target in targets:
        answer = await raw_request(gw.url, target)
        for name, value in EXPECTED.items():
            values = [v for k, v in answer.headers if k == name]
            assert values == [value], (target, name, values)
        assert "strict-transport-security" not in dict(answer.headers)
    preflight = await gw.client.options(
        "/api/v1/cart",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["x-content-type-options"] == "nosniff"


async def test_proxied_answers_have_one_date_and_one_server(gateway: GatewayFactory) -> None:
    gw = await gateway()
    for target in (b"/api/v1/products", b"/api/v1/media/x", b"/api/v1/categories"):
        answer = await raw_request(gw.url, target)
        assert answer.status == 200
        for name in ("date", "server"):
            assert len([k for k, _ in answer.headers if k == name]) <= 1, (target, name)
        assert len([k for k, _ in answer.headers if k == "date"]) == 1


async def test_hsts_when_configured(gateway: GatewayFactory) -> None:
    gw = await gateway(hsts_seconds=63072000)
    for path in ("/api/v1/products", "/healthz"):
        response = await gw.client.get(path)
        assert response.headers["strict-transport-security"] == "max-age=63072000"
