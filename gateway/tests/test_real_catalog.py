"""The real catalog service behind the gateway (SQLite, memory bus, local media)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emporium.gateway.testing import GatewayFactory, serving
from emporium.kit.testing.tokens import TokenMint


async def test_the_catalog_through_the_gateway(
    gateway: GatewayFactory, sqlite_url: str, tmp_path: Path
) -> None:
    from emporium.catalog.app import create_service_app
    from emporium.catalog.settings import Settings as CatalogSettings
    from emporium.catalog.testing import MIGRATIONS
    from emporium.kit.migrations import upgrade_to_head

    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, sqlite_url)
    mint = TokenMint()
    catalog = create_service_app(
        CatalogSettings(
            database_url=sqlite_url,
            bus="memory",
            storage="local",
            media_dir=str(tmp_path / "media"),
            redis_url=None,
            log_json=False,
        ),
        keys=mint.keys(),
    )
    async with serving(catalog) as catalog_url:
        gw = await gateway(catalog_url=catalog_url, mint=mint)
        admin = gw.bearer("admin")
        client = gw.client

        assert (await client.get("/api/v1/products")).json()["items"] == []  # cached now
        category = await client.post(
            "/api/v1/admin/categories",
            json={"slug": "lamps", "name": "Lamps", "parent_id": None},
            headers=admin,
        )
        assert category.status_code == 201, category.text
        product = await client.post(
            "/api/v1/admin/products",
            json={
                "sku": "LAMP-1",
                "name": "Desk lamp",
                "description": "Bright",
                "price": {"amount": 2999, "currency": "EUR"},
                "category_id": category.json()["id"],
                "attributes": {},
            },
            headers=admin,
        )
        assert product.status_code == 201, product.text
        customer = await client.post(
            "/api/v1/admin/products", json={}, headers=gw.bearer("customer")
        )
        assert customer.status_code == 403

        listing = await client.get("/api/v1/products?q=lamp")
        assert listing.status_code == 200
        assert [item["sku"] for item in listing.json()["items"]] == ["LAMP-1"]
        # The write went through the gateway: the cached empty listing is gone.
        assert [i["sku"] for i in (await client.get("/api/v1/products")).json()["items"]] == [
            "LAMP-1"
        ]
        one = await client.get(f"/api/v1/products/{product.json()['id']}")
        assert one.json()["name"] == "Desk lamp"
        again = await client.get(
            f"/api/v1/products/{product.json()['id']}",
            headers={"If-None-Match": one.headers["etag"]},
        )
        assert again.status_code == 304
        unknown = await client.get("/api/v1/products/0196a5a0-0000-7000-8000-000000000000")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"

        document = (await client.get("/api/v1/openapi.json")).json()
        assert "/api/v1/products/{product_id}" in document["paths"]
        assert "/api/v1/admin/products/{product_id}/images" in document["paths"]
