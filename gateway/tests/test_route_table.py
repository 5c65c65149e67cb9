"""The route table against every row of the public contract (API.md)."""

from __future__ import annotations

import pytest

from emporium.gateway.routes import match

CONTRACT = [
    ("POST", "/auth/register", "customers", "anonymous"),
    ("POST", "/auth/token", "customers", "anonymous"),
    ("POST", "/auth/refresh", "customers", "anonymous"),
    ("POST", "/auth/logout", "customers", "customer"),
    ("GET", "/auth/jwks", "customers", "anonymous"),
    ("GET", "/me", "customers", "customer"),
    ("PATCH", "/me", "customers", "customer"),
    ("DELETE", "/me", "customers", "customer"),
    ("GET", "/me/addresses", "customers", "customer"),
    ("POST", "/me/addresses", "customers", "customer"),
    ("PATCH", "/me/addresses/1", "customers", "customer"),
    ("DELETE", "/me/addresses/1", "customers", "customer"),
    ("GET", "/admin/customers", "customers", "admin"),
    ("GET", "/admin/customers/1", "customers", "admin"),
    ("PATCH", "/admin/customers/1", "customers", "admin"),
    ("DELETE", "/admin/customers/1", "customers", "admin"),
    ("GET", "/categories", "catalog", "anonymous"),
    ("GET", "/products", "catalog", "anonymous"),
    ("GET", "/products/1", "catalog", "anonymous"),
    ("GET", "/media/images/abc/display.webp", "catalog", "anonymous"),
    ("POST", "/admin/categories", "catalog", "admin"),
    ("POST", "/admin/products", "catalog", "admin"),
    ("PATCH", "/admin/products/1", "catalog", "admin"),
    ("DELETE", "/admin/products/1", "catalog", "admin"),
    ("PUT", "/admin/products/1/stock", "catalog", "admin"),
    ("POST", "/admin/products/1/images", "catalog", "admin"),
    ("DELETE", "/admin/products/1/images/2", "catalog", "admin"),
    ("GET", "/cart", "orders", "customer"),
    ("PUT", "/cart/items/1", "orders", "customer"),
    ("DELETE", "/cart/items/1", "orders", "customer"),
    ("DELETE", "/cart", "orders", "customer"),
    ("POST", "/orders", "orders", "customer"),
    ("GET", "/orders", "orders", "customer"),
    ("GET", "/orders/1", "orders", "customer"),
    ("POST", "/orders/1/cancel", "orders", "customer"),
    ("GET", "/orders/1/events", "orders", "customer"),
    ("GET", "/admin/orders", "orders", "admin"),
    ("POST", "/admin/orders/1/ship", "orders", "admin"),
]


@pytest.mark.parametrize(("method", "path", "upstream", "auth"), CONTRACT)
def test_every_contract_row_has_its_service_and_auth(
    method: str, path: str, upstream: str, auth: str
) -> None:
    route = match(path, method)
    assert route is not None
    assert (route.upstream, route.auth) == (upstream, auth)


def test_only_catalog_reads_are_cacheable_and_only_admin_writes_invalidate() -> None:
    cacheable = {(m, p) for m, p, _, _ in CONTRACT if (r := match(p, m)) and r.cache}
    assert cacheable == {("GET", "/categories"), ("GET", "/products"), ("GET", "/products/1")}
    for method, path in (("POST", "/admin/products"), ("PUT", "/admin/products/1/stock")):
        route = match(path, method)
        assert route is not None
        assert route.invalidates == "catalog"


def test_what_is_not_public_has_no_route() -> None:
    for method, path in (
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("POST", "/products"),  # writes go through /admin
        ("GET", "/productsX"),
        ("GET", "/"),
    ):
        assert match(path, method) is None, (method, path)
