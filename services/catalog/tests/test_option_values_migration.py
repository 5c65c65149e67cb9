"""Migration 0007 on a populated database, on SQLite and PostgreSQL: ``product_option_value``
holds each live product's live variants' option values once, in their smallest spelling;
the schema is the models'; downgrade and upgrade again work."""

from __future__ import annotations

import asyncio
import random
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.catalog.models import ALL_METADATA
from emporium.kit.migrations import alembic_config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TABLE = "product_option_value"

# The 0006 tables as raw SQL sees them (no models: they move on).
_when = sa.DateTime(timezone=True)
PRODUCT = sa.table(
    "product",
    *(sa.column(n) for n in ("sku", "name", "description", "currency", "tax_class")),
    sa.column("id", sa.Uuid()),
    sa.column("price_amount", sa.BigInteger()),
    sa.column("attributes", sa.JSON()),
    sa.column("weight_grams", sa.Integer()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", _when),
    sa.column("updated_at", _when),
    sa.column("deleted_at", _when),
)
VARIANT = sa.table(
    "variant",
    sa.column("id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("sku", sa.String()),
    sa.column("weight_grams", sa.Integer()),
    sa.column("position", sa.Integer()),
    sa.column("combination_key", sa.Text()),
    sa.column("created_at", _when),
    sa.column("updated_at", _when),
    sa.column("deleted_at", _when),
)
OPTION = sa.table(
    "variant_option",
    sa.column("variant_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    *(sa.column(n) for n in ("name_key", "value_key", "name", "value")),
)
SPELLINGS = {"size": ["Size", "size"], "colour": ["Colour", "colour", "COLOUR"]}
VALUES = {"size": ["S", "s", "M", "L"], "colour": ["Red", "red", "Blue", "Grün"]}


def _fill(connection: Connection) -> set[tuple[UUID, str, str, str, str]]:
    """120 products (every 10th soft-deleted) of 1-4 variants (every 5th deleted), with
    names and values spelt differently on different variants; returns the expected rows."""
    rng = random.Random(7)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    products, variants, options = [], [], []
    expected: dict[tuple[UUID, str, str], tuple[str, str]] = {}
    for i in range(120):
        pid, deleted = uuid4(), i % 10 == 9
        products.append({
            "id": pid, "sku": f"P-{i}", "name": f"P {i}", "description": "", "currency": "EUR",
            "tax_class": "standard", "price_amount": 100, "attributes": {}, "version": 1,
            "weight_grams": 0, "created_at": now, "updated_at": now,
            "deleted_at": now if deleted else None,
        })  # fmt: skip
        for n in range(rng.randint(1, 4)):
            vid = pid if n == 0 else uuid4()
            gone = n > 0 and rng.randrange(5) == 0
            variants.append({
                "id": vid, "product_id": pid, "sku": f"P-{i}-{n}", "weight_grams": 0,
                "position": n, "combination_key": f"[{n}]", "created_at": now,
                "updated_at": now, "deleted_at": now if gone or deleted else None,
            })  # fmt: skip
            if gone or deleted:  # variant_option holds live variants only
                continue
            for name_key in rng.sample(sorted(SPELLINGS), rng.randint(0, 2)):
                name, value = rng.choice(SPELLINGS[name_key]), rng.choice(VALUES[name_key])
                key = value.casefold()
                options.append({"variant_id": vid, "product_id": pid, "name_key": name_key,
                                "value_key": key, "name": name, "value": value})  # fmt: skip
                k = (pid, name_key, value.casefold())
                old = expected.get(k, (name, value))
                expected[k] = (min(old[0], name), min(old[1], value))
    connection.execute(PRODUCT.insert(), products)
    connection.execute(VARIANT.insert(), variants)
    connection.execute(OPTION.insert(), options)
    return {(*k, *v) for k, v in expected.items()}


def _read(connection: Connection) -> set[tuple[UUID, str, str, str, str]]:
    rows = connection.execute(
        sa.text(f"SELECT product_id, name_key, value_key, name, value FROM {TABLE}")
    )
    return {(UUID(str(r[0])), r[1], r[2], r[3], r[4]) for r in rows}


def _diffs(connection: Connection) -> tuple[list[Any], set[str]]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": ALL_METADATA}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        diffs = compare_metadata(context, ALL_METADATA)
    tables = set(inspect(connection).get_table_names())
    return [d for d in diffs if TABLE in repr(d)], tables


async def _run(url: str, work: Any) -> Any:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def test_0007_keeps_each_live_products_option_values_once(database_url: str) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    expected = await _run(database_url, _fill)
    assert any(row[3] != row[1] for row in expected)  # some labels are not their keys

    await asyncio.to_thread(command.upgrade, config, "0007")
    assert await _run(database_url, _read) == expected
    diffs, tables = await _run(database_url, _diffs)
    assert diffs == []

    await asyncio.to_thread(command.downgrade, config, "0006")
    _, tables = await _run(database_url, _diffs)
    assert TABLE not in tables
    assert "variant_option" in tables
    await asyncio.to_thread(command.upgrade, config, "0007")
    assert await _run(database_url, _read) == expected
