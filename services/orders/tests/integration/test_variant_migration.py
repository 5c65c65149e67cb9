"""Migration 0009 on a populated database (SQLite and PostgreSQL): every product copy becomes
its one variant with its price, order lines name that variant, and the schema is the models'."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Uuid, bindparam, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.kit.migrations import alembic_config
from emporium.kit.outbox import UTCDateTime
from emporium.orders.models import ALL_METADATA

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TABLES = {"variant_copy", "variant_price_copy", "cart", "order_line"}
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": ALL_METADATA}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        diffs = compare_metadata(context, ALL_METADATA)

    def table(diff: Any) -> str:
        op = diff[0] if isinstance(diff, list) else diff
        if op[0] in ("add_column", "remove_column") or op[0].startswith("modify_"):
            return str(op[2])
        if op[0].endswith("_table"):
            return str(op[1].name)
        return str(op[1].table.name)

    return [d for d in diffs if table(d) in TABLES]


def _is_id(value: Any) -> bool:
    return isinstance(value, uuid.UUID)


def _plain(row: Any) -> tuple[Any, ...]:
    """A row with its ids as UUIDs (SQLite answers their hex) and its flags as bools."""
    out: list[Any] = []
    for value in row:
        if isinstance(value, str) and len(value) == 32:
            try:
                value = uuid.UUID(value)
            except ValueError:
                pass
        out.append(value)
    return tuple(out)


async def _run(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            out = []
            for sql, params in statements:
                typed = [
                    bindparam(k, type_=Uuid() if _is_id(v) else UTCDateTime())
                    for k, v in params.items()
                    if _is_id(v) or isinstance(v, datetime)
                ]
                result = await connection.execute(text(sql).bindparams(*typed), params)
                out.append([_plain(row) for row in result.all()] if result.returns_rows else None)
            return out
    finally:
        await engine.dispose()


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diffs)
    finally:
        await engine.dispose()


async def test_0009_backfills_one_variant_per_product_and_the_lines(database_url: str) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0008")
    mug, tea, order, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    product = (
        "INSERT INTO product_copy (id, sku, name, price_amount, currency, deleted, "
        "weight_grams, tax_class, version, source_time) VALUES "
        "(:id, :sku, 'x', :amount, :currency, :deleted, :weight, 'standard', :version, :now)"
    )
    await _run(
        database_url,
        [
            (product, {"id": mug, "sku": "MUG", "amount": 800, "currency": "GBP",
                       "deleted": False, "weight": 350, "version": 4, "now": NOW}),
            (product, {"id": tea, "sku": "TEA", "amount": 1290, "currency": "EUR",
                       "deleted": True, "weight": 0, "version": None, "now": NOW}),
            ("INSERT INTO customer_order (id, customer_id, status, total_amount, currency, "
             "subtotal_amount, discount_amount, shipping_amount, tax_amount, idempotency_key, "
             "request_hash, created_at, updated_at) VALUES (:id, :c, 'pending', 1600, 'GBP', "
             "1600, 0, 0, 0, 'k', 'h', :now, :now)", {"id": order, "c": customer, "now": NOW}),
            ("INSERT INTO order_line (order_id, position, product_id, sku, name, unit_amount, "
             "quantity, discount_amount, tax_amount) VALUES (:o, 1, :p, 'MUG', 'Mug', 800, 2, "
             "0, 0)", {"o": order, "p": mug}),
        ],
    )  # fmt: skip
    await asyncio.to_thread(command.upgrade, config, "0009")
    assert await _diff(database_url) == []
    variants, prices, lines = await _run(
        database_url,
        [
            ("SELECT id, product_id, sku, weight_grams, deleted, version FROM variant_copy", {}),
            ("SELECT variant_id, currency, amount FROM variant_price_copy", {}),
            ("SELECT product_id, variant_id, options FROM order_line", {}),
        ],
    )
    assert set(variants) == {
        (mug, mug, "MUG", 350, False, 4),
        (tea, tea, "TEA", 0, True, None),
    }
    assert set(prices) == {(mug, "GBP", 800), (tea, "EUR", 1290)}
    assert [(r[0], r[1], r[2]) for r in lines] == [(mug, mug, None)]

    await asyncio.to_thread(command.downgrade, config, "0008")
    await asyncio.to_thread(command.upgrade, config, "0009")
    assert await _diff(database_url) == []
