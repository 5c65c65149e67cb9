"""Routing and auth: the public paths reach the right service, with the right checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from emporium.gateway.testing import GatewayFactory, free_port
from emporium.kit.auth.denylist import CacheDenylist


async def test_public_paths_reach_their_service_without_the_prefix(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    user = gw.bearer()
    cases = {
        "/api/v1/products?q=lamp&limit=5": ("catalog", "/products", "q=lamp&limit=5", {}),
        "/api/v1/categories": ("catalog", "/categories", "", {}),
        "/api/v1/media/products/1/a.webp": ("catalog", "/media/products/1/a.webp", "", {}),
        "/api/v1/media/a%20b.webp": ("catalog", "/media/a b.webp", "", {}),
        "/api/v1/me/addresses": ("customers", "/me/addresses", "", user),
        "/api/v1/cart": ("orders", "/cart", "", user),
        "/api/v1/orders/42": ("orders", "/orders/42", "", user),
    }
    for public, (service, path, query, headers) in cases.items():
        response = await gw.client.get(public, headers=headers)
        assert response.status_code == 200, (public, response.text)
        echo = response.json()
        assert (echo["service"], echo["path"], echo["query"]) == (service, path, query)


async def test_an_unknown_path_is_a_problem_404(gateway: GatewayFactory) -> None:
    gw = await gateway()
    response = await gw.client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_customer_routes_need_a_valid_token(gateway: GatewayFactory) -> None:
    gw = await gateway()
    for path in ("/api/v1/me", "/api/v1/cart", "/api/v1/orders"):
        missing = await gw.client.get(path)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        bad = await gw.client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code == 401
        ok = await gw.client.get(path, headers=gw.bearer())
        assert ok.status_code == 200
    assert gw.services["customers"].hits + gw.services["orders"].hits == 3


async def test_admin_routes_are_for_admins(gateway: GatewayFactory) -> None:
    gw = await gateway()
    for path in ("/api/v1/admin/products", "/api/v1/admin/customers", "/api/v1/admin/orders"):
        assert (await gw.client.get(path)).status_code == 401
        customer = await gw.client.get(path, headers=gw.bearer())
        assert customer.status_code == 403
        assert customer.headers["content-type"] == "application/problem+json"
        assert (await gw.client.get(path, headers=gw.bearer("admin"))).status_code == 200


async def test_the_token_is_forwarded_for_the_service_to_verify_again(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    headers = gw.bearer()
    echo = (await gw.client.get("/api/v1/me", headers=headers)).json()
    assert echo["headers"]["authorization"] == headers["Authorization"]


async def test_anonymous_routes_pass_even_a_bad_token_to_the_service(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway()
    response = await gw.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": "x"}, headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 200
    assert response.json()["service"] == "customers"
    logout = await gw.client.post("/api/v1/auth/logout")
    assert logout.status_code == 401  # logout needs the access token


async def test_a_revoked_token_is_refused(gateway: GatewayFactory) -> None:
    gw = await gateway()
    token = gw.mint.token()
    headers = {"Authorization": f"Bearer {token}"}
    assert (await gw.client.get("/api/v1/me", headers=headers)).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    denylist = gw.resources.get(CacheDenylist)
    await denylist.revoke(jti, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    refused = await gw.client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


async def test_keys_come_from_the_customers_jwks(gateway: GatewayFactory) -> None:
    gw = await gateway(jwks=True)
    for _ in range(3):
        assert (await gw.client.get("/api/v1/me", headers=gw.bearer())).status_code == 200
    assert gw.services["customers"].jwks_fetches == 1  # fetched once, then cached


async def test_public_calls_work_while_the_signing_keys_cannot_be_fetched(
    gateway: GatewayFactory,
) -> None:
    gw = await gateway(jwks=True, customers_url=f"http://127.0.0.1:{free_port()}")
    signed_in = gw.bearer()
    assert (await gw.client.get("/api/v1/products", headers=signed_in)).status_code == 200
    cart = await gw.client.get("/api/v1/cart", headers=signed_in)
    assert cart.status_code == 503  # a customer route cannot be checked without the keys
    assert cart.headers["content-type"] == "application/problem+json"
