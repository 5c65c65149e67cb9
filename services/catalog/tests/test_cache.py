"""The Redis read cache: cache-aside for product detail and listing pages, invalidated by
writes, stock changes and images; one recomputation for a hot key; Redis down is only slower.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from PIL import Image
from sqlalchemy import event, update
from sqlalchemy.engine import Connection

from emporium.catalog.models import Product
from emporium.catalog.testing import Catalog, running_catalog
from emporium.contracts.orders import OrderLine, OrderPlaced
from emporium.kit.bus.base import Record
from emporium.kit.events import wrap
from emporium.kit.testing import eventually


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 200)).save(out, "PNG")
    return out.getvalue()


async def rename_behind_the_service(catalog: Catalog, product_id: str, name: str) -> None:
    """Change a row without the service knowing: only a cache would still show the old one."""
    async with catalog.database.session() as session:
        await session.execute(
            update(Product).where(Product.id == UUID(product_id)).values(name=name)
        )


async def name_of(catalog: Catalog, product_id: str) -> str:
    name: str = (await catalog.client.get(f"/products/{product_id}")).json()["name"]
    return name


async def test_detail_and_listing_are_cached_and_invalidated_by_changes(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    async with running_catalog(
        postgres_url, tmp_path, settings={"redis_url": redis_url}, cache_namespace=unique
    ) as catalog:
        product = await catalog.product(name="Original")
        await catalog.stock(product["id"], 3)
        assert await name_of(catalog, product["id"]) == "Original"
        listing = (await catalog.client.get("/products")).json()
        assert [p["name"] for p in listing["items"]] == ["Original"]

        await rename_behind_the_service(catalog, product["id"], "Sneaky")
        assert await name_of(catalog, product["id"]) == "Original"  # served from Redis
        listing = (await catalog.client.get("/products")).json()
        assert [p["name"] for p in listing["items"]] == ["Original"]

        # A change through the service invalidates detail and listing at once.
        await catalog.client.patch(
            f"/admin/products/{product['id']}", json={"price": 1}, headers=catalog.admin
        )
        assert await name_of(catalog, product["id"]) == "Sneaky"
        listing = (await catalog.client.get("/products")).json()
        assert [p["name"] for p in listing["items"]] == ["Sneaky"]

        # So does a stock change made by an event handler (after its commit).
        await rename_behind_the_service(catalog, product["id"], "After order")
        order = uuid4()
        data = OrderPlaced(
            order_id=order,
            customer_id=uuid4(),
            lines=[OrderLine(product_id=UUID(product["id"]), sku="x", quantity=1, unit_amount=1)],
            total_amount=1,
            currency="EUR",
        )
        envelope = wrap(data, source="orders", key=order)
        await catalog.resources.require_bus().publish(
            [Record(topic="orders.events", value=envelope.to_bytes(), key=str(order).encode())]
        )

        async def reserved() -> bool:
            body = (await catalog.client.get(f"/products/{product['id']}")).json()
            return bool(body["availability"]["available"] == 2 and body["name"] == "After order")

        await eventually(reserved)

        # And an image upload: the page and the (cached) listing that holds the product.
        listing = (await catalog.client.get("/products")).json()
        assert [len(p["images"]) for p in listing["items"]] == [0]
        await rename_behind_the_service(catalog, product["id"], "With image")
        uploaded = await catalog.client.post(
            f"/admin/products/{product['id']}/images",
            files={"file": ("a.png", png(), "image/png")},
            headers=catalog.admin,
        )
        assert uploaded.status_code == 201
        detail = (await catalog.client.get(f"/products/{product['id']}")).json()
        assert (detail["name"], len(detail["images"])) == ("With image", 1)
        listing = (await catalog.client.get("/products")).json()
        assert [(p["name"], len(p["images"])) for p in listing["items"]] == [("With image", 1)]
        await catalog.client.delete(
            f"/admin/products/{product['id']}/images/{uploaded.json()['id']}",
            headers=catalog.admin,
        )
        listing = (await catalog.client.get("/products")).json()
        assert [len(p["images"]) for p in listing["items"]] == [0]
        await catalog.client.delete(f"/admin/products/{product['id']}", headers=catalog.admin)
        assert (await catalog.client.get(f"/products/{product['id']}")).status_code == 404
        assert (await catalog.client.get("/products")).json()["items"] == []


async def test_a_hot_key_is_computed_once_across_processes(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"redis_url": redis_url, "run_workers": False}
    async with (
        running_catalog(postgres_url, tmp_path / "a", settings=settings, cache_namespace=unique)
        as first,
        running_catalog(postgres_url, tmp_path / "b", settings=settings, cache_namespace=unique)
        as second,
    ):  # fmt: skip
        product = await first.product(name="Hot")
        computations = 0

        def count(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
            nonlocal computations
            if "FROM product_image" in statement:  # read once per computation of a detail
                computations += 1

        for catalog in (first, second):
            event.listen(catalog.database.sync_engine, "before_cursor_execute", count)
        responses = await asyncio.gather(
            *(
                catalog.client.get(f"/products/{product['id']}")
                for _ in range(15)
                for catalog in (first, second)
            )
        )
        assert {r.status_code for r in responses} == {200}
        assert {r.json()["name"] for r in responses} == {"Hot"}
        assert computations == 1


async def test_redis_down_changes_nothing_a_client_sees(sqlite_url: str, tmp_path: Path) -> None:
    # Nothing listens on port 9: every cache operation fails and the cache steps aside.
    async with running_catalog(
        sqlite_url, tmp_path, settings={"redis_url": "redis://127.0.0.1:9/0"}
    ) as catalog:
        product = await catalog.product(name="First")
        await catalog.stock(product["id"], 2)
        assert await name_of(catalog, product["id"]) == "First"
        await catalog.client.patch(
            f"/admin/products/{product['id']}", json={"name": "Second"}, headers=catalog.admin
        )
        assert await name_of(catalog, product["id"]) == "Second"
        listing = (await catalog.client.get("/products", params={"in_stock": "true"})).json()
        assert [p["name"] for p in listing["items"]] == ["Second"]
        ready = await catalog.client.get("/readyz")
        assert ready.status_code == 200  # the cache is not critical
