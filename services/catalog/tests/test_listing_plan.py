"""At 100k products every listing query reads an index, not the whole table (a plan check
on real PostgreSQL, not a timing)."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.catalog.product.repository import ListingQuery, listing_statement
from emporium.catalog.testing import MIGRATIONS
from emporium.kit.migrations import upgrade_to_head

ROWS = 100_000

FILL = f"""
INSERT INTO category (id, slug, name, parent_id, created_at)
SELECT gen_random_uuid(), 'cat-' || c, 'Category ' || c, NULL, now()
FROM generate_series(1, 20) AS c;

INSERT INTO product (id, sku, name, description, price_amount, currency, category_id,
                     attributes, created_at, updated_at, deleted_at)
SELECT gen_random_uuid(), 'SKU-' || i, 'Product ' || md5(i::text),
       'Made of material' || (i % 5000) || ' in colour' || (i % 37),
       (i * 7919) % 100000, 'EUR',
       (SELECT id FROM category ORDER BY slug OFFSET (i % 20) LIMIT 1),
       '{{}}', now(), now(), CASE WHEN i % 50 = 0 THEN now() END
FROM generate_series(1, {ROWS}) AS i;

INSERT INTO stock (product_id, on_hand, reserved, updated_at)
SELECT id, (price_amount % 4), 0, now() FROM product;

ANALYZE;
"""


def plan_sql(query: ListingQuery) -> str:
    statement = listing_statement(query, postgres=True)
    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return f"EXPLAIN {compiled}"


def query(**changes: object) -> ListingQuery:
    values: dict[str, object] = {
        "category_ids": None, "q": None, "min_price": None, "max_price": None,
        "in_stock": None, "sort": "name", "after": None, "limit": 20,
    }  # fmt: skip
    values.update(changes)
    return ListingQuery(**values)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
async def test_listing_queries_use_an_index_at_100k_products(postgres_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, postgres_url)
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            for statement in FILL.split(";\n"):
                if statement.strip():
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            category = (await conn.execute(text("SELECT id FROM category LIMIT 1"))).scalar_one()
            some = (await conn.execute(text("SELECT id, name FROM product LIMIT 1"))).one()
            after_name: tuple[str | int | None, UUID] = (some.name, some.id)
            cases = {
                "by name": query(),
                "by name, next page": query(after=after_name),
                "by price": query(sort="price"),
                "by price descending, next page": query(sort="-price", after=(50_000, some.id)),
                "newest": query(sort="newest"),
                "category": query(category_ids=[category]),
                "text search": query(q="material1234"),
                "in stock": query(in_stock=True),
                "price range": query(sort="price", min_price=100, max_price=2000),
            }
            for name, listing in cases.items():
                rows = await conn.execute(text(plan_sql(listing)))
                plan = "\n".join(row[0] for row in rows)
                assert "Seq Scan on product" not in plan, f"{name}:\n{plan}"
                assert "Index" in plan, f"{name}:\n{plan}"
            rows = await conn.execute(text(plan_sql(query(q="material1234"))))
            assert "ix_product_search" in "\n".join(row[0] for row in rows)
    finally:
        await engine.dispose()
