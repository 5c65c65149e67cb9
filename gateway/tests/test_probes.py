"""/healthz, /readyz (every upstream and Redis) and /metrics on the gateway."""

from __future__ import annotations

from emporium.gateway.testing import GatewayFactory, free_port


async def test_readiness_reports_each_upstream(gateway: GatewayFactory) -> None:
    gw = await gateway()
    assert (await gw.client.get("/healthz")).status_code == 200
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert {"upstream:catalog", "upstream:customers", "upstream:orders", "cache"} <= set(checks)
    assert ready.json()["status"] == "ok"


async def test_a_service_down_degrades_readiness_without_failing_it(
    gateway: GatewayFactory,
) -> None:
    # The gateway still serves the other services' routes: it stays in load balancing.
    gw = await gateway(orders_url=f"http://127.0.0.1:{free_port()}")
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["upstream:orders"]["status"] == "failed"


async def test_metrics_count_upstream_failures_and_limits(gateway: GatewayFactory) -> None:
    gw = await gateway(catalog_url=f"http://127.0.0.1:{free_port()}", rate_limit_auth=1)
    await gw.client.get("/api/v1/products")
    for _ in range(2):
        await gw.client.post("/api/v1/auth/token", json={})
    metrics = (await gw.client.get("/metrics")).text
    assert 'emporium_gateway_upstream_failures_total{kind="unavailable",upstream="catalog"}' in (
        metrics
    )
    assert 'emporium_gateway_rate_limited_total{bucket="auth"}' in metrics
    assert 'emporium_http_requests_total{method="GET",route="/api/v1/products"' in metrics
