"""The demo catalog of ``make dev``."""

from __future__ import annotations

from pathlib import Path

from emporium.catalog.seed import seed_demo_catalog
from emporium.catalog.settings import Settings
from emporium.catalog.testing import running_catalog


async def test_seed_fills_an_empty_catalog_once(sqlite_url: str, tmp_path: Path) -> None:
    async with running_catalog(sqlite_url, tmp_path / "media") as catalog:
        storage = catalog.resources.require_storage()
        created = await seed_demo_catalog(database=catalog.database, storage=storage)
        assert 40 <= created <= 70
        assert await seed_demo_catalog(database=catalog.database, storage=storage) == 0

        categories = (await catalog.client.get("/categories")).json()
        assert {"home", "kitchen", "garden", "clothing", "books"} <= {c["slug"] for c in categories}
        page = (await catalog.client.get("/products", params={"limit": 100})).json()
        assert len(page["items"]) == created
        assert any(p["availability"]["in_stock"] for p in page["items"])
        assert any(not p["availability"]["in_stock"] for p in page["items"])
        first = page["items"][0]
        assert len(first["images"]) == 1
        thumb = first["images"][0]["thumbnail_url"].removeprefix("/api/v1")
        response = await catalog.client.get(thumb)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        kitchen = (await catalog.client.get("/products", params={"category": "home"})).json()
        assert kitchen["items"]
        assert "catalog.ProductCreated.v2" in await catalog.outbox_types()


async def test_seed_prices_in_the_shops_base_currency(sqlite_url: str, tmp_path: Path) -> None:
    settings = {"base_currency": "USD"}
    async with running_catalog(sqlite_url, tmp_path / "media", settings=settings) as catalog:
        created = await seed_demo_catalog(
            Settings(database_url=sqlite_url, base_currency="USD"),
            database=catalog.database,
            storage=catalog.resources.require_storage(),
        )
        page = (await catalog.client.get("/products", params={"limit": 100})).json()
        assert len(page["items"]) == created > 0
        assert {p["price"]["currency"] for p in page["items"]} == {"USD"}
