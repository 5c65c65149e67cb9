"""Migration 0008 (issue 14's contract step) on a populated database, on SQLite and
PostgreSQL: ``stock`` and ``reservation_line`` go, stock per location and allocations stay
exactly as they were and still release; the schema is the models'; the downgrade brings
the old tables back with each product's first variant at ``default``."""

from __future__ import annotations

import asyncio
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
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from emporium.catalog.inventory import service
from emporium.catalog.models import ALL_METADATA
from emporium.kit.migrations import alembic_config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
OLD = {"stock", "reservation_line"}
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _fill(connection: Connection) -> dict[str, UUID]:
    """A product with a second variant, stocked at ``default`` and ``north``, an open order
    holding both variants at ``default``, and the stale 0006-era rows of the old tables."""
    product, second, order = uuid4(), uuid4(), uuid4()
    rows: list[tuple[str, dict[str, Any]]] = [
        ("INSERT INTO stock_location (code, name, priority, created_at)"
         " VALUES ('north', 'North', 1, :now)", {}),
        ("INSERT INTO product (id, sku, name, description, price_amount, currency, attributes,"
         " weight_grams, tax_class, version, created_at, updated_at)"
         " VALUES (:p, 'C-1', 'Shirt', '', 100, 'EUR', '{}', 0, 'standard', 1, :now, :now)",
         {}),
        ("INSERT INTO variant (id, product_id, sku, weight_grams, position, combination_key,"
         " created_at, updated_at) VALUES (:p, :p, 'C-1', 0, 0, '[]', :now, :now),"
         " (:v, :p, 'C-2', 0, 1, '[1]', :now, :now)", {}),
        ("INSERT INTO stock_level (variant_id, location_code, on_hand, reserved, updated_at)"
         " VALUES (:p, 'default', 5, 2, :now), (:v, 'default', 3, 1, :now),"
         " (:p, 'north', 4, 0, :now)", {}),
        ("INSERT INTO order_reservation (order_id, status, created_at, updated_at)"
         " VALUES (:o, 'reserved', :now, :now)", {}),
        ("INSERT INTO reservation_allocation (order_id, variant_id, location_code, quantity)"
         " VALUES (:o, :p, 'default', 2), (:o, :v, 'default', 1)", {}),
        ("INSERT INTO stock (product_id, on_hand, reserved, updated_at)"
         " VALUES (:p, 9, 9, :now)", {}),
        ("INSERT INTO reservation_line (order_id, product_id, quantity) VALUES (:o, :p, 9)", {}),
    ]  # fmt: skip
    params = {"p": product, "v": second, "o": order, "now": NOW}
    types = {"p": sa.Uuid(), "v": sa.Uuid(), "o": sa.Uuid(), "now": sa.DateTime(timezone=True)}
    for sql, _ in rows:
        used = [k for k in params if f":{k}" in sql]
        statement = sa.text(sql).bindparams(
            *(sa.bindparam(k, params[k], type_=types[k]) for k in used)
        )
        connection.execute(statement)
    return {"product": product, "second": second, "order": order}


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _state(connection: Connection) -> dict[str, Any]:
    tables = set(inspect(connection).get_table_names())

    def rows(sql: str) -> set[tuple[Any, ...]]:
        return {
            tuple(_uuid(v) if i == 0 else v for i, v in enumerate(r))
            for r in connection.execute(sa.text(sql))
        }

    state: dict[str, Any] = {
        "tables": tables,
        "levels": rows("SELECT variant_id, location_code, on_hand, reserved FROM stock_level"),
        "allocations": rows(
            "SELECT variant_id, order_id, location_code, quantity FROM reservation_allocation"
        ),
    }
    if "stock" in tables:
        state["stock"] = rows("SELECT product_id, on_hand, reserved FROM stock")
        state["lines"] = {
            (pid, _uuid(oid), qty)
            for pid, oid, qty in rows("SELECT product_id, order_id, quantity FROM reservation_line")
        }
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": ALL_METADATA}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        state["diffs"] = [d for d in compare_metadata(context, ALL_METADATA) if _old(d)]
    return state


def _old(diff: Any) -> bool:
    return any(f"'{name}'" in repr(diff) for name in OLD)


async def _run(url: str, work: Any) -> Any:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def test_0008_drops_the_old_stock_tables_and_keeps_stock_per_location(
    database_url: str,
) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0007")
    ids = await _run(database_url, _fill)
    before = await _run(database_url, _state)
    assert before["tables"] >= OLD

    await asyncio.to_thread(command.upgrade, config, "0008")
    after = await _run(database_url, _state)
    assert not after["tables"] & OLD
    assert after["levels"] == before["levels"]
    assert after["allocations"] == before["allocations"]
    assert after["diffs"] == []

    # The open order releases through today's code with the old tables gone.
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            assert await service.release_order(session, ids["order"])
    finally:
        await engine.dispose()
    released = await _run(database_url, _state)
    assert {(v, loc, reserved) for v, loc, _, reserved in released["levels"]} == {
        (ids["product"], "default", 0),
        (ids["second"], "default", 0),
        (ids["product"], "north", 0),
    }

    # Down: the old tables say what they can (the first variant at default), then up again.
    await asyncio.to_thread(command.downgrade, config, "0007")
    down = await _run(database_url, _state)
    assert down["stock"] == {(ids["product"], 5, 0)}
    assert down["lines"] == {(ids["product"], ids["order"], 2)}
    await asyncio.to_thread(command.upgrade, config, "0008")
    assert not (await _run(database_url, _state))["tables"] & OLD
