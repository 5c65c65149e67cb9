"""A product's weight and tax class: set, shown, changed, validated, carried by its events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.catalog.testing import Catalog
from emporium.kit.events import Envelope
from emporium.kit.migrations import alembic_config
from emporium.kit.outbox import OutboxMessage, UTCDateTime

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


async def _event_data(catalog: Catalog, product_id: str) -> list[dict[str, Any]]:
    async with catalog.database.session() as session:
        rows = await session.scalars(
            sa.select(OutboxMessage.envelope)
            .where(OutboxMessage.key == product_id)
            .order_by(OutboxMessage.seq)
        )
        return [Envelope.from_bytes(raw).data for raw in rows]


def _facts(body: dict[str, Any]) -> tuple[Any, Any]:
    return body["weight_grams"], body["tax_class"]


async def test_weight_and_tax_class_are_kept_shown_and_sent_to_orders(catalog: Catalog) -> None:
    created = await catalog.product(sku="PAN-1", weight_grams=2300, tax_class="reduced")
    assert _facts(created) == (2300, "reduced")
    fetched = (await catalog.client.get(f"/products/{created['id']}")).json()
    assert _facts(fetched) == (2300, "reduced")
    listed = (await catalog.client.get("/products")).json()["items"]
    assert [_facts(p) for p in listed if p["id"] == created["id"]] == [(2300, "reduced")]

    # PATCH changes what it names; absent or null leaves the rest as it was.
    reweighed = await catalog.client.patch(
        f"/admin/products/{created['id']}",
        json={"weight_grams": 2100, "tax_class": None},
        headers=catalog.admin,
    )
    assert reweighed.status_code == 200, reweighed.text
    assert _facts(reweighed.json()) == (2100, "reduced")
    renamed = await catalog.client.patch(
        f"/admin/products/{created['id']}", json={"name": "Pan"}, headers=catalog.admin
    )
    assert _facts(renamed.json()) == (2100, "reduced")

    events = await _event_data(catalog, created["id"])
    assert [_facts(data) for data in events] == [
        (2300, "reduced"),  # ProductCreated.v2
        (2100, "reduced"),  # ProductUpdated.v2: the whole state
        (2100, "reduced"),
    ]


async def test_a_product_without_them_weighs_nothing_and_is_standard(catalog: Catalog) -> None:
    created = await catalog.product(sku="EBOOK-1")
    assert _facts(created) == (0, "standard")
    [event] = await _event_data(catalog, created["id"])
    assert _facts(event) == (0, "standard")


_BAD = [
    ("weight_grams", -1),
    ("weight_grams", 1.5),
    ("weight_grams", "12"),
    ("weight_grams", True),
    ("weight_grams", 10**6 + 1),
    ("tax_class", ""),
    ("tax_class", "Reduced"),
    ("tax_class", "zero rated"),
    ("tax_class", "x" * 33),
    ("tax_class", 7),
]


async def test_a_bad_weight_or_tax_class_is_a_422_naming_it(catalog: Catalog) -> None:
    product = await catalog.product(sku="GOOD-1")
    for field, value in _BAD:
        created = await catalog.client.post(
            "/admin/products",
            json={"sku": "BAD-1", "name": "x", "price": 100, field: value},
            headers=catalog.admin,
        )
        assert created.status_code == 422, (field, value)
        assert created.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in created.json()["errors"]} == {f"body.{field}"}
        patched = await catalog.client.patch(
            f"/admin/products/{product['id']}", json={field: value}, headers=catalog.admin
        )
        assert patched.status_code == 422, (field, value)
        assert {e["field"] for e in patched.json()["errors"]} == {f"body.{field}"}
    unchanged = (await catalog.client.get(f"/products/{product['id']}")).json()
    assert _facts(unchanged) == (0, "standard")


async def test_the_schema_documents_them(catalog: Catalog) -> None:
    schemas = catalog.app.openapi()["components"]["schemas"]
    create = schemas["ProductCreate"]["properties"]
    assert create["weight_grams"]["type"] == "integer"
    assert (create["weight_grams"]["minimum"], create["weight_grams"]["default"]) == (0, 0)
    assert create["tax_class"]["default"] == "standard"
    assert create["tax_class"]["pattern"] == r"^[a-z0-9_-]{1,32}$"
    assert "weight_grams" not in schemas["ProductCreate"].get("required", [])
    assert {"weight_grams", "tax_class"} <= set(schemas["ProductUpdate"]["properties"])
    assert {"weight_grams", "tax_class"} <= set(schemas["Product"]["required"])


def _migrate(url: str, revision: str) -> None:
    command.upgrade(alembic_config(MIGRATIONS, url), revision)


_PRODUCT = sa.table(
    "product",
    sa.column("id", sa.Uuid()),
    sa.column("sku", sa.String()),
    sa.column("name", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("price_amount", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("attributes", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("weight_grams", sa.Integer()),
    sa.column("tax_class", sa.String()),
)


async def test_the_migration_gives_existing_products_the_defaults(database_url: str) -> None:
    await asyncio.to_thread(_migrate, database_url, "0004")
    product_id, now = uuid4(), datetime.now(UTC)
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(_PRODUCT).values(
                    id=product_id, sku="OLD-1", name="Old", description="", price_amount=500,
                    currency="EUR", attributes={}, created_at=now, updated_at=now,
                )
            )  # fmt: skip
        await asyncio.to_thread(_migrate, database_url, "head")
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(_PRODUCT.c.weight_grams, _PRODUCT.c.tax_class).where(
                        _PRODUCT.c.id == product_id
                    )
                )
            ).one()
        assert tuple(row) == (0, "standard")
        with pytest.raises(sa.exc.IntegrityError):  # the database refuses a negative weight
            async with engine.begin() as conn:
                await conn.execute(
                    sa.update(_PRODUCT).where(_PRODUCT.c.id == product_id).values(weight_grams=-1)
                )
    finally:
        await engine.dispose()
