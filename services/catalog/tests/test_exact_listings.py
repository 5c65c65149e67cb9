"""A stock change misses only the cached listings that show its product, unless the product
went in or out of stock (then every listing: an ``in_stock`` filter may now hold it or not).

Rows renamed behind the service show which pages were computed again: a cached page keeps
the old name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update

from emporium.catalog.invalidation import LISTING, product_family, stock_families
from emporium.catalog.models import Product
from emporium.catalog.testing import Catalog, running_catalog


async def rename_behind_the_service(catalog: Catalog, product_id: str, name: str) -> None:
    async with catalog.database.session() as session:
        await session.execute(
            update(Product).where(Product.id == UUID(product_id)).values(name=name)
        )


async def items(catalog: Catalog, query: str) -> list[tuple[str, int]]:
    page: dict[str, Any] = (await catalog.client.get(f"/products?{query}")).json()
    return [(item["name"], item["availability"]["available"]) for item in page["items"]]


@pytest.fixture(params=["memory", "redis"])
def cache_settings(request: pytest.FixtureRequest, unique: str) -> dict[str, Any]:
    """The embedded default's in-process cache, or Redis."""
    if request.param == "memory":
        return {"settings": {}}
    return {
        "settings": {"redis_url": request.getfixturevalue("redis_url")},
        "cache_namespace": unique,
    }


async def test_a_stock_change_misses_only_the_listings_that_show_the_product(
    postgres_url: str, tmp_path: Path, cache_settings: dict[str, Any]
) -> None:
    async with running_catalog(postgres_url, tmp_path, **cache_settings) as catalog:
        lamps, chairs = await catalog.category("lamps"), await catalog.category("chairs")
        lamp = await catalog.product(name="Lamp", category_id=lamps["id"])
        chair = await catalog.product(name="Chair", category_id=chairs["id"])
        await catalog.stock(lamp["id"], 5)
        await catalog.stock(chair["id"], 5)
        assert await items(catalog, "category=lamps") == [("Lamp", 5)]
        assert await items(catalog, "category=chairs") == [("Chair", 5)]
        assert await items(catalog, "in_stock=true") == [("Chair", 5), ("Lamp", 5)]

        await rename_behind_the_service(catalog, lamp["id"], "Lamp renamed")
        await rename_behind_the_service(catalog, chair["id"], "Chair renamed")
        await catalog.stock(lamp["id"], 3)  # still in stock
        # The pages that show the lamp are computed again (and see the rename) ...
        assert await items(catalog, "category=lamps") == [("Lamp renamed", 3)]
        assert await items(catalog, "in_stock=true") == [("Chair renamed", 5), ("Lamp renamed", 3)]
        # ... the chairs' page is still the cached one.
        assert await items(catalog, "category=chairs") == [("Chair", 5)]

        await catalog.stock(lamp["id"], 0)  # out of stock: every listing is computed again
        assert await items(catalog, "in_stock=true") == [("Chair renamed", 5)]
        assert await items(catalog, "category=chairs") == [("Chair renamed", 5)]
        assert await items(catalog, "category=lamps") == [("Lamp renamed", 0)]

        await catalog.stock(lamp["id"], 2)  # back in stock
        assert await items(catalog, "in_stock=true") == [("Chair renamed", 5), ("Lamp renamed", 2)]


def test_only_going_in_or_out_of_stock_stales_every_listing() -> None:
    product = UUID("0196a5a0-0000-7000-8000-000000000001")
    own = product_family(product)
    assert stock_families(product, 5, 3) == (own,)
    assert stock_families(product, 0, 0) == (own,)
    assert stock_families(product, 1, 0) == (LISTING, own)
    assert stock_families(product, 0, 4) == (LISTING, own)
