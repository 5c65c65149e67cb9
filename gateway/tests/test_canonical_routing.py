"""Through a real gateway: only canonical paths in the route table reach a service, and
nothing a client sends picks the upstream host."""

from __future__ import annotations

import pytest

from emporium.gateway.testing import FakeService, GatewayFactory, Servers, raw_request

REFUSED = [
    b"/api/v1/products/../metrics",
    b"/api/v1/auth/../docs",
    b"/api/v1/categories/../readyz",
    b"/api/v1/categories/../openapi.json",
    b"/api/v1/me/../auth/token",
    b"/api/v1/products/%2e%2e/metrics",
    b"/api/v1/products/%2E%2e/readyz",
    b"/api/v1/products/.%2e/docs",
    b"/api/v1/products/%2e/x",
    b"/api/v1/products%2F..%2Fmetrics",
    b"/api/v1/products%2f..%2fmetrics",
    b"/api/v1/products%5C..%5Cmetrics",
    b"/api/v1/products\\..\\metrics",
    b"/api/v1//products",
    b"/api/v1/products/%00",
    b"/api/v1/products/%0D%0AX-Injected:%201",
    b"/api/v1/products/%zz",
    b"/api%2Fv1/products",
]


@pytest.mark.parametrize("target", REFUSED)
async def test_an_ambiguous_path_is_a_400_and_reaches_no_service(
    gateway: GatewayFactory, target: bytes
) -> None:
    gw = await gateway()
    answer = await raw_request(gw.url, target)
    assert answer.status == 400, (target, answer.body)
    assert answer.header("content-type") == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "https://emporium.dev/problems/bad-request-target"
    assert problem["reason"]
    assert problem["detail"]
    assert problem["request_id"] == answer.header("x-request-id")
    assert problem["instance"].isprintable()
    assert sum(service.hits for service in gw.services.values()) == 0


@pytest.mark.parametrize("method", [b"GET", b"POST", b"DELETE"])
async def test_no_path_reaches_another_host(gateway: GatewayFactory, method: bytes) -> None:
    evil = FakeService("evil")
    servers = Servers()
    evil_url = await servers.start(evil.app())
    try:
        gw = await gateway()
        port = evil_url.rsplit(":", 1)[1]
        for target in (
            f"/api/v1%2Fproducts%2F@127.0.0.1:{port}/x".encode(),
            f"/api/v1/products%2F@127.0.0.1:{port}/x".encode(),
            f"/api/v1/products/@127.0.0.1:{port}/x".encode(),
            f"/api/v1/products/%40127.0.0.1:{port}/x".encode(),
            f"/api/v1/media/%2F%2F127.0.0.1:{port}/x".encode(),
        ):
            answer = await raw_request(gw.url, target, method=method, body=b"{}")
            assert answer.status == 400, (target, answer.body)
            assert answer.header("content-type") == "application/problem+json"
        assert evil.hits == 0
    finally:
        evil.stop()
        await servers.stop()


async def test_what_the_route_table_matched_is_what_the_service_receives(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    cases = {
        b"/api/v1/products/%2525": "/products/%25",
        b"/api/v1/products/": "/products",
        b"/ap%69/v1/products": "/products",
        b"/api/v1/media/a%20b.webp": "/media/a b.webp",
        b"/api/v1/products/%3F%23": "/products/%3F%23",  # still encoded: not a query
        b"/api/v1/products/...": "/products/...",
    }
    for target, path in cases.items():
        answer = await raw_request(gw.url, target)
        assert answer.status == 200, (target, answer.body)
        assert answer.json()["path"] == path, target


async def test_the_query_is_encoded_again_from_its_parsed_form(gateway: GatewayFactory) -> None:
    gw = await gateway()
    answer = await raw_request(gw.url, b"/api/v1/products?q=red+lamp&a=%26&in_stock")
    assert answer.json()["query"] == "q=red%20lamp&a=%26&in_stock="
    bad = await raw_request(gw.url, b"/api/v1/products?q=%zz")
    assert bad.status == 400
    assert bad.json()["reason"] == "invalid-percent-encoding"


async def test_internal_pages_of_a_service_are_not_public(gateway: GatewayFactory) -> None:
    gw = await gateway()
    for path in ("/api/v1/metrics", "/api/v1/readyz", "/api/v1/docs", "/api/v1/healthz"):
        answer = await gw.client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    assert sum(service.hits for service in gw.services.values()) == 0


async def test_only_json_answers_of_cacheable_routes_are_stored(gateway: GatewayFactory) -> None:
    gw = await gateway()
    catalog = gw.services["catalog"]
    for _ in range(2):
        answer = await gw.client.get("/api/v1/products/_html")
        assert answer.status_code == 200
        assert "x-cache" not in answer.headers
    assert catalog.hits == 2
    # A route the table does not mark cacheable is never cached, JSON or not.
    for _ in range(2):
        assert "x-cache" not in (await gw.client.get("/api/v1/media/a.json")).headers
    assert catalog.hits == 4


async def test_no_path_is_answered_with_a_redirect(gateway: GatewayFactory) -> None:
    gw = await gateway()
    for target in (b"/api/v1", b"/api", b"/docs/", b"/healthz/", b"/api/v1/openapi.json/"):
        answer = await raw_request(gw.url, target)
        assert answer.status == 404, (target, answer.status, answer.headers)
        assert answer.header("location") is None
        assert answer.header("content-type") == "application/problem+json"


async def test_a_service_s_redirect_into_itself_never_reaches_the_client(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    # The service's own slash redirect (to its internal address): no such API path.
    slash = await gw.client.get("/api/v1/media/_dir")
    assert slash.status_code == 404
    assert "location" not in slash.headers
    assert slash.headers["content-type"] == "application/problem+json"
    away = await gw.client.get("/api/v1/media/_away")
    assert away.status_code == 502
    assert "location" not in away.headers
    # Elsewhere (a CDN): passed on.
    cdn = await gw.client.get("/api/v1/media/_cdn")
    assert cdn.status_code == 302
    assert cdn.headers["location"] == "https://cdn.example/a.webp"
