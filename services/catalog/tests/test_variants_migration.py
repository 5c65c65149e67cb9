"""Migration 0006 on a populated database, on SQLite and PostgreSQL: every product becomes
one variant with its id and SKU, its stock moves to ``default`` unchanged, every
reservation becomes an allocation there, so what was reserved is still reserved (and
releases); the schema is the models'; downgrade and upgrade again work."""

from __future__ import annotations

import asyncio
import random
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from emporium.catalog.inventory import service
from emporium.catalog.models import ALL_METADATA
from emporium.kit.migrations import alembic_config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
NEW_TABLES = {
    "stock_location",
    "product_option",
    "variant",
    "variant_option",
    "variant_price",
    "product_price",
    "stock_level",
    "reservation_allocation",
}
T = TypeVar("T")

# The 0005 tables as raw SQL sees them (no models: they have moved on).
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
STOCK = sa.table(
    "stock",
    sa.column("product_id", sa.Uuid()),
    sa.column("on_hand", sa.Integer()),
    sa.column("reserved", sa.Integer()),
    sa.column("updated_at", _when),
)
ORDER = sa.table(
    "order_reservation",
    sa.column("order_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("created_at", _when),
    sa.column("updated_at", _when),
)
LINE = sa.table(
    "reservation_line",
    sa.column("order_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("quantity", sa.Integer()),
)


def _fill(connection: Connection) -> dict[str, Any]:
    """200 products (every 10th soft-deleted, every 7th without a stock row) and 80 orders
    of 1-3 lines in each status; ``reserved`` is what the open orders hold."""
    rng = random.Random(14)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    products = []
    for i in range(200):
        created = start + timedelta(minutes=i)
        products.append({
            "id": uuid4(), "sku": f"SKU-{i:03}", "name": f"Product {i}", "description": "",
            "currency": "EUR" if i % 5 else "USD", "tax_class": "standard",
            "price_amount": rng.randrange(0, 10_000), "attributes": {}, "version": 1,
            "weight_grams": rng.randrange(0, 2_000), "created_at": created,
            "updated_at": created, "deleted_at": created if i % 10 == 9 else None,
        })  # fmt: skip
    stocked = [p["id"] for i, p in enumerate(products) if i % 7 != 3]
    orders, lines = [], []
    reserved = Counter[UUID]()
    for n in range(80):
        status = ("reserved", "released", "committed")[n % 3]
        order_id = uuid4()
        orders.append({"order_id": order_id, "status": status, "created_at": start,
                       "updated_at": start})  # fmt: skip
        for product_id in rng.sample(stocked, rng.randint(1, 3)):
            quantity = rng.randint(1, 4)
            lines.append({"order_id": order_id, "product_id": product_id, "quantity": quantity})
            if status == "reserved":
                reserved[product_id] += quantity
    stock = [
        {"product_id": pid, "reserved": reserved[pid],
         "on_hand": reserved[pid] + rng.randrange(0, 30), "updated_at": start}
        for pid in stocked
    ]  # fmt: skip
    connection.execute(PRODUCT.insert(), products)
    connection.execute(STOCK.insert(), stock)
    connection.execute(ORDER.insert(), orders)
    connection.execute(LINE.insert(), lines)
    return {"products": products, "stock": stock, "orders": orders, "lines": lines}


def _rows(connection: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(sa.text(sql))]


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _read(connection: Connection) -> dict[str, Any]:
    return {
        "variants": {
            _uuid(vid): (_uuid(pid), sku, weight, deleted is not None, key)
            for vid, pid, sku, weight, deleted, key in _rows(
                connection,
                "SELECT id, product_id, sku, weight_grams, deleted_at, combination_key "
                "FROM variant",
            )
        },
        "prices": {
            (_uuid(vid), cur): amount
            for vid, cur, amount in _rows(
                connection, "SELECT variant_id, currency, amount FROM variant_price"
            )
        },
        "product_prices": {
            (_uuid(pid), cur): amount
            for pid, cur, amount in _rows(
                connection, "SELECT product_id, currency, amount FROM product_price"
            )
        },
        "levels": {
            (_uuid(vid), loc): (on_hand, reserved)
            for vid, loc, on_hand, reserved in _rows(
                connection, "SELECT variant_id, location_code, on_hand, reserved FROM stock_level"
            )
        },
        "allocations": Counter(
            {
                (_uuid(oid), _uuid(vid), loc): qty
                for oid, vid, loc, qty in _rows(
                    connection,
                    "SELECT order_id, variant_id, location_code, quantity "
                    "FROM reservation_allocation",
                )
            }
        ),
        "open": {
            _uuid(oid)
            for (oid,) in _rows(
                connection, "SELECT order_id FROM order_reservation WHERE status = 'reserved'"
            )
        },
        "locations": _rows(connection, "SELECT code, name, priority FROM stock_location"),
    }


def _diffs(connection: Connection) -> tuple[list[Any], set[str]]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": ALL_METADATA}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        diffs = compare_metadata(context, ALL_METADATA)
        tables = set(inspect(connection).get_table_names())
    return [d for d in diffs if _table_of(d) in NEW_TABLES], tables


def _table_of(diff: Any) -> str:
    op = diff[0] if isinstance(diff, list) else diff
    if op[0] in ("add_column", "remove_column") or op[0].startswith("modify_"):
        return str(op[2])
    if op[0].endswith("_table"):
        return str(op[1].name)
    return str(op[1].table.name)


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def _release(url: str, order_ids: list[UUID]) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            for order_id in order_ids:
                assert await service.release_order(session, order_id)
    finally:
        await engine.dispose()


async def test_0006_makes_every_product_one_variant_with_its_stock_and_reservations(
    database_url: str,
) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0005")
    before = await _run(database_url, _fill)

    await asyncio.to_thread(command.upgrade, config, "0006")
    after = await _run(database_url, _read)

    products = before["products"]
    assert after["locations"] == [("default", "Default", 0)]
    # One variant per product, deleted ones too: same id, SKU, weight, no options.
    assert after["variants"] == {
        p["id"]: (p["id"], p["sku"], p["weight_grams"], p["deleted_at"] is not None, "[]")
        for p in products
    }
    expected_prices = {(p["id"], p["currency"]): p["price_amount"] for p in products}
    assert after["prices"] == expected_prices
    assert after["product_prices"] == expected_prices
    # Stock unchanged, at default; a product without a stock row has none still.
    assert after["levels"] == {
        (s["product_id"], "default"): (s["on_hand"], s["reserved"]) for s in before["stock"]
    }
    # Every reservation line is an allocation at default ...
    assert after["allocations"] == Counter(
        {(ln["order_id"], ln["product_id"], "default"): ln["quantity"] for ln in before["lines"]}
    )
    # ... and what each row holds is exactly what the open orders' allocations add up to.
    held = Counter[tuple[UUID, str]]()
    for (order_id, variant_id, location), quantity in after["allocations"].items():
        if order_id in after["open"]:
            held[(variant_id, location)] += quantity
    assert {key: reserved for key, (_, reserved) in after["levels"].items() if reserved} == dict(
        held
    )
    assert after["open"] == {o["order_id"] for o in before["orders"] if o["status"] == "reserved"}

    # The orders still open release through the new code path, down to nothing reserved.
    await _release(database_url, sorted(after["open"]))
    released = await _run(database_url, _read)
    assert released["open"] == set()
    assert released["levels"] == {
        key: (on_hand, 0) for key, (on_hand, _) in after["levels"].items()
    }

    diffs, tables = await _run(database_url, _diffs)
    assert diffs == []
    assert tables >= NEW_TABLES | {"stock", "reservation_line"}

    await asyncio.to_thread(command.downgrade, config, "0005")
    _, tables = await _run(database_url, _diffs)
    assert not tables & NEW_TABLES
    assert {"product", "stock", "reservation_line"} <= tables  # the old tables untouched

    # Upgrading again copies the old tables again (the orders' statuses are shared and
    # stay released).
    await asyncio.to_thread(command.upgrade, config, "0006")
    again = await _run(database_url, _read)
    assert {**again, "open": None} == {**after, "open": None}
