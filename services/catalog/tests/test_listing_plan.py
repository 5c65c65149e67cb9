"""At 100k products every listing query reads an index, not the whole table (a plan check
on real PostgreSQL, not a timing)."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import Executable, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from emporium.catalog.product.facets_sql import facet_statements
from emporium.catalog.product.repository import ListingQuery, listing_statement
from emporium.catalog.testing import MIGRATIONS
from emporium.catalog.variants.options import parse_option_filters
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

-- Three variants a product (sizes s, m, l; one of 37 colours), like migration 0006 makes
-- the first and the variant endpoints the others.
INSERT INTO variant (id, product_id, sku, weight_grams, position, combination_key,
                     created_at, updated_at, deleted_at)
SELECT CASE WHEN s = 0 THEN p.id ELSE gen_random_uuid() END, p.id, p.sku || '-' || s, 0, s,
       '[' || s || ']', now(), now(), p.deleted_at
FROM product p, generate_series(0, 2) AS s;

INSERT INTO variant_option (variant_id, name_key, product_id, value_key, name, value)
SELECT v.id, 'size', v.product_id, (ARRAY['s', 'm', 'l'])[v.position + 1],
       'size', (ARRAY['S', 'M', 'L'])[v.position + 1]
FROM variant v WHERE v.deleted_at IS NULL
UNION ALL
SELECT v.id, 'colour', v.product_id, 'colour' || (p.price_amount % 37),
       'colour', 'Colour' || (p.price_amount % 37)
FROM variant v JOIN product p ON p.id = v.product_id WHERE v.deleted_at IS NULL;

-- Each product's values once, as migration 0007 backfills them and every write keeps them.
INSERT INTO product_option_value (product_id, name_key, value_key, name, value)
SELECT product_id, name_key, value_key, min(name COLLATE "C"), min(value COLLATE "C")
FROM variant_option GROUP BY 1, 2, 3;

INSERT INTO variant_price (variant_id, currency, amount)
SELECT v.id, 'EUR', p.price_amount + v.position FROM variant v JOIN product p ON p.id = v.product_id
UNION ALL
SELECT v.id, 'USD', p.price_amount + 7 FROM variant v JOIN product p ON p.id = v.product_id
WHERE p.price_amount % 3 <> 0;

INSERT INTO product_price (product_id, currency, amount)
SELECT v.product_id, vp.currency, min(vp.amount)
FROM variant_price vp JOIN variant v ON v.id = vp.variant_id GROUP BY 1, 2;

INSERT INTO stock_level (variant_id, location_code, on_hand, reserved, updated_at)
SELECT v.id, 'default', (p.price_amount + v.position) % 4, 0, now()
FROM variant v JOIN product p ON p.id = v.product_id;
"""


def plan_sql(query: ListingQuery | Executable) -> str:
    statement = (
        listing_statement(query, postgres=True) if isinstance(query, ListingQuery) else query
    )
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


def options(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"options": parse_option_filters((f"option.{n}", v) for n, v in pairs)}


async def explain(conn: AsyncConnection, statement: ListingQuery | Executable) -> str:
    rows = await conn.execute(text(plan_sql(statement)))
    return "\n".join(row[0] for row in rows)


@pytest.mark.timeout(300)
async def test_listing_queries_use_an_index_at_100k_products(postgres_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, postgres_url)
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            for statement in FILL.split(";\n"):
                if statement.strip():
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            # Vacuumed as autovacuum would leave it: index-only scans need the visibility map.
            vacuum = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await vacuum.execute(text("VACUUM ANALYZE"))
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
                "option.size=M": query(**options(("size", "M"))),
                "option.size=M&option.colour=red": query(
                    **options(("size", "M"), ("colour", "colour5"))
                ),
                "USD by price": query(sort="price", currency="USD"),
                "USD by price, next page": query(
                    sort="price", currency="USD", after=(50_000, some.id)
                ),
                "USD in a price range": query(currency="USD", min_price=100, max_price=900),
            }
            for name, listing in cases.items():
                rows = await conn.execute(text(plan_sql(listing)))
                plan = "\n".join(row[0] for row in rows)
                assert "Seq Scan on product" not in plan, f"{name}:\n{plan}"
                assert "Index" in plan, f"{name}:\n{plan}"
            rows = await conn.execute(text(plan_sql(query(q="material1234"))))
            assert "ix_product_search" in "\n".join(row[0] for row in rows)
            # One option name: a probe of each product's values (product_option_value);
            # more names must hold on one variant, so through variant_option's indexes.
            plan = await explain(conn, cases["option.size=M"])
            assert "pk_product_option_value" in plan or "ix_product_option_value_term" in plan, (
                f"option.size=M:\n{plan}"
            )
            assert "variant_option " not in plan, f"option.size=M:\n{plan}"
            plan = await explain(conn, cases["option.size=M&option.colour=red"])
            assert "ix_variant_option_" in plan, f"two names:\n{plan}"
            assert "Seq Scan on variant_option" not in plan, f"two names:\n{plan}"
            for name in ("USD by price", "USD by price, next page"):
                plan = await explain(conn, cases[name])
                assert "ix_product_price_currency_amount" in plan, f"{name}:\n{plan}"
            # Facets: categories counted from the filtered products (through the listing's
            # indexes), option values from product_option_value (never every variant's
            # variant_option rows); unfiltered, one pass over it and no product read.
            size_m = query(**options(("size", "M")))
            colour = query(**options(("colour", "colour5")))
            categories_of, values_of = facet_statements(
                query(category_ids=[category]), postgres=True
            )
            for statement in (categories_of, values_of):
                plan = await explain(conn, statement)
                assert "ix_product_category_name" in plan, f"category:\n{plan}"
                assert "Seq Scan on product " not in plan, f"category:\n{plan}"
            assert "product_option_value" in await explain(conn, values_of)
            for name, listing in {"size=M": size_m, "colour5": colour}.items():
                for statement in facet_statements(listing, postgres=True):
                    plan = await explain(conn, statement)
                    assert "ix_product_option_value_term" in plan, f"{name}:\n{plan}"
                    assert "variant_option " not in plan, f"{name}:\n{plan}"
            categories_of, values_of = facet_statements(query(), postgres=True)
            plan = await explain(conn, values_of)
            assert "on product_option_value" in plan, f"facets:\n{plan}"
            assert "on product " not in plan, plan
            assert "variant_option " not in plan, plan
            # Every live product's category counted in one pass, then the 20 categories named.
            plan = await explain(conn, categories_of)
            assert plan.count("on product ") == 1, plan
            assert "variant" not in plan, plan
    finally:
        await engine.dispose()
