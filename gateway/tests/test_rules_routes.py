"""The checkout pricing rules' admin API (orders) in the route table and in the public
OpenAPI document built from the real orders app's own."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.gateway.openapi import merge
from emporium.gateway.routes import match

CONTRACT = [
    ("POST", "/admin/shipping-zones"),
    ("GET", "/admin/shipping-zones"),
    ("DELETE", "/admin/shipping-zones/1"),
    ("POST", "/admin/tax-rates"),
    ("GET", "/admin/tax-rates"),
    ("DELETE", "/admin/tax-rates/1"),
    ("POST", "/admin/promotions"),
    ("GET", "/admin/promotions"),
    ("GET", "/admin/promotions/1"),
    ("PATCH", "/admin/promotions/1"),
    ("DELETE", "/admin/promotions/1"),
]

OPERATIONS = {
    ("post", "/api/v1/admin/shipping-zones"): ("createShippingZone", set()),
    ("get", "/api/v1/admin/shipping-zones"): ("listShippingZones", set()),
    ("delete", "/api/v1/admin/shipping-zones/{zone_id}"): ("deleteShippingZone", {"404"}),
    ("post", "/api/v1/admin/tax-rates"): ("createTaxRate", {"409"}),
    ("get", "/api/v1/admin/tax-rates"): ("listTaxRates", set()),
    ("delete", "/api/v1/admin/tax-rates/{tax_rate_id}"): ("deleteTaxRate", {"404"}),
    ("post", "/api/v1/admin/promotions"): ("createPromotion", {"409"}),
    ("get", "/api/v1/admin/promotions"): ("listPromotions", set()),
    ("get", "/api/v1/admin/promotions/{promotion_id}"): ("getPromotion", {"404"}),
    ("patch", "/api/v1/admin/promotions/{promotion_id}"): ("updatePromotion", {"404", "409"}),
    ("delete", "/api/v1/admin/promotions/{promotion_id}"): ("deletePromotion", {"404"}),
}


@pytest.mark.parametrize(("method", "path"), CONTRACT)
def test_the_rules_go_to_orders_for_admins_only(method: str, path: str) -> None:
    route = match(path, method)
    assert route is not None
    assert (route.upstream, route.auth, route.cache) == ("orders", "admin", False)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from emporium.orders.app import create_service_app
    from emporium.orders.settings import Settings

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('orders')}/orders.db"
    settings = Settings(database_url=url, bus="memory", redis_url=None, log_json=False)
    spec = create_service_app(settings).openapi()
    return merge({"orders": spec}, title="Emporium", version="1", description="")


def test_every_rules_operation_is_public_for_admins_with_its_answers(
    document: dict[str, Any],
) -> None:
    for (method, path), (operation_id, problems) in OPERATIONS.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["tags"] == ["admin"]
        responses = operation["responses"]
        # The gateway's 401/403 for a missing or non-admin token, and the service's own.
        assert {"401", "403", "429", "503"} <= set(responses), (path, method)
        assert problems <= set(responses), (path, method, sorted(responses))
        if method in ("post", "patch"):
            assert {"400", "413", "422"} <= set(responses)
    created = document["paths"]["/api/v1/admin/promotions"]["post"]["responses"]["201"]
    body = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = set(document["components"]["schemas"][body]["properties"])
    assert {"id", "code", "applies_to", "used_count", "created_at", "updated_at"} <= fields


def test_what_an_admin_creates_links_to_reading_changing_and_deleting_it(
    document: dict[str, Any],
) -> None:
    def links(path: str, method: str, status: str) -> dict[str, Any]:
        found: dict[str, Any] = document["paths"][path][method]["responses"][status]["links"]
        return found

    promotion = links("/api/v1/admin/promotions", "post", "201")
    assert {name: link["operationId"] for name, link in promotion.items()} == {
        "GetPromotion": "getPromotion",
        "UpdatePromotion": "updatePromotion",
        "DeletePromotion": "deletePromotion",
    }
    assert promotion["UpdatePromotion"]["parameters"] == {"path.promotion_id": "$response.body#/id"}
    zone = links("/api/v1/admin/shipping-zones", "post", "201")["DeleteShippingZone"]
    assert zone["parameters"] == {"path.zone_id": "$response.body#/id"}
    rate = links("/api/v1/admin/tax-rates", "post", "201")["DeleteTaxRate"]
    assert rate["parameters"] == {"path.tax_rate_id": "$response.body#/id"}
    page = links("/api/v1/admin/promotions", "get", "200")["NextPage"]
    assert page["parameters"] == {"query.cursor": "$response.body#/next_cursor"}
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert "promotions" in tags["admin"]
