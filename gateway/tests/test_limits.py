"""Rate limits: 429 with Retry-After and RateLimit-*; in Redis, in memory, and failing open."""

from __future__ import annotations

import httpx
import pytest

from emporium.gateway.ratelimit import decide
from emporium.gateway.testing import GatewayFactory


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, unique: str) -> dict[str, str | None]:
    """The settings of each place the windows can be counted in (Redis: its own keys)."""
    if request.param == "memory":
        return {"redis_url": None}
    return {"redis_url": request.getfixturevalue("redis_url"), "cache_namespace": unique}


async def test_past_the_limit_comes_429_with_headers(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(rate_limit_anonymous=3, rate_limit_window_seconds=60, **store)
    for remaining in (2, 1, 0):
        ok = await gw.client.get("/api/v1/categories")
        assert ok.status_code == 200
        assert ok.headers["ratelimit-limit"] == "3"
        assert ok.headers["ratelimit-remaining"] == str(remaining)
        assert 0 < int(ok.headers["ratelimit-reset"]) <= 60
    limited = await gw.client.get("/api/v1/categories")
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert limited.headers["ratelimit-remaining"] == "0"
    # A signed-in customer has a window of their own.
    assert (await gw.client.get("/api/v1/categories", headers=gw.bearer())).status_code == 200


async def test_auth_calls_have_a_stricter_limit_of_their_own(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(rate_limit_auth=2, rate_limit_anonymous=100, **store)
    for _ in range(2):
        assert (await gw.client.post("/api/v1/auth/token", json={})).status_code == 200
    assert (await gw.client.post("/api/v1/auth/token", json={})).status_code == 429
    assert (await gw.client.get("/api/v1/products")).status_code == 200


async def test_limits_fail_open_when_redis_is_down(gateway: GatewayFactory) -> None:
    gw = await gateway(rate_limit_anonymous=1, redis_url="redis://127.0.0.1:1/0")
    for _ in range(3):
        response = await gw.client.get("/api/v1/categories")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers
    ready = await gw.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"


async def test_each_client_ip_has_its_own_window(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    # Behind a trusted proxy (127.0.0.1 here) the client IP comes from X-Forwarded-For.
    gw = await gateway(rate_limit_anonymous=1, trusted_proxies="127.0.0.1/32", **store)
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "198.51.100.7, 203.0.113.2"}
    assert (await gw.client.get("/api/v1/categories", headers=first)).status_code == 200
    assert (await gw.client.get("/api/v1/categories", headers=first)).status_code == 429
    answer = await gw.client.get("/api/v1/media/x", headers=second)
    assert answer.status_code == 200
    # Replaced, not passed on: the services see the one address the gateway resolved.
    assert answer.json()["headers"]["x-forwarded-for"] == "203.0.113.2"


async def test_a_forged_x_forwarded_for_does_not_change_the_client(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    # No proxy is trusted by default: X-Forwarded-For from the peer itself is ignored.
    gw = await gateway(rate_limit_anonymous=1, **store)
    assert (await gw.client.get("/api/v1/categories")).status_code == 200
    forged = await gw.client.get("/api/v1/categories", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forged.status_code == 429
    # Behind a trusted proxy list that does not include this peer, the same.
    apart = {
        **store,
        **({"cache_namespace": f"{ns}-b"} if (ns := store.get("cache_namespace")) else {}),
    }
    other = await gateway(rate_limit_anonymous=1, trusted_proxies="10.0.0.0/8", **apart)
    assert (await other.client.get("/api/v1/media/a")).status_code == 200
    echo = await other.client.get("/api/v1/media/b", headers={"X-Forwarded-For": "203.0.113.9"})
    assert echo.status_code == 429


async def test_a_trusted_peer_speaks_for_the_client_an_untrusted_one_does_not(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    # Two local source addresses against one real gateway: 127.0.0.2 is a trusted proxy.
    gw = await gateway(rate_limit_anonymous=1, trusted_proxies="127.0.0.2/32", **store)
    forged = {"X-Forwarded-For": "203.0.113.50", "X-Forwarded-Proto": "https"}
    proxied = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    direct = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with (
        httpx.AsyncClient(base_url=gw.url, transport=proxied) as through_proxy,
        httpx.AsyncClient(base_url=gw.url, transport=direct) as untrusted,
    ):
        echo = (await through_proxy.get("/api/v1/media/a", headers=forged)).json()["headers"]
        assert echo["x-forwarded-for"] == "203.0.113.50"
        assert echo["x-forwarded-proto"] == "https"
        echo = (await untrusted.get("/api/v1/media/a", headers=forged)).json()["headers"]
        assert echo["x-forwarded-for"] == "127.0.0.3"
        assert echo["x-forwarded-proto"] == "http"
        # 203.0.113.50 and 127.0.0.3 have spent their one request; the proxy's own is fresh.
        assert (await untrusted.get("/api/v1/media/a", headers=forged)).status_code == 429
        assert (await through_proxy.get("/api/v1/media/a", headers=forged)).status_code == 429
        assert (await through_proxy.get("/api/v1/media/a")).status_code == 200


def test_a_fresh_window_never_resets_later_than_its_length() -> None:
    now = 8161.962517661547  # a clock reading where (now + 60) - now is 60.00000000000091
    assert (now + 60) - now > 60
    assert decide(1, 3, (now + 60) - now).reset_seconds == 60
