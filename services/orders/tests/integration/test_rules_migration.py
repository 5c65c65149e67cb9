"""Migration 0007 on SQLite and PostgreSQL: it builds exactly the rules' tables the models
declare, and its downgrade removes them (and upgrading again works)."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.kit.migrations import alembic_config
from emporium.orders.models import ALL_METADATA

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TABLES = {"shipping_zone", "shipping_rate", "tax_rate", "promotion", "promotion_redemption"}


def _table_of(diff: Any) -> str:
    """The table an autogenerate difference is about (a list of tuples for a column's)."""
    op = diff[0] if isinstance(diff, list) else diff
    if op[0] in ("add_column", "remove_column") or op[0].startswith("modify_"):
        return str(op[2])
    if op[0].endswith("_table"):
        return str(op[1].name)
    return str(op[1].table.name)  # an index or a constraint


def _state(connection: Connection) -> tuple[list[Any], set[str], set[str]]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": ALL_METADATA}
    )
    inspector = inspect(connection)
    with warnings.catch_warnings():
        # SQLite cannot reflect the expression index of the tax rate key (looked up below).
        warnings.filterwarnings("ignore", message=".*expression-based index")
        diffs = compare_metadata(context, ALL_METADATA)
        tables = set(inspector.get_table_names())
        indexes = {
            str(index["name"])
            for table in TABLES & tables
            for index in inspector.get_indexes(table)
        }
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
        indexes |= {row[0] for row in rows}
    return [d for d in diffs if _table_of(d) in TABLES], tables, indexes


async def _inspect(url: str) -> tuple[list[Any], set[str], set[str]]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_state)
    finally:
        await engine.dispose()


async def test_0007_matches_the_models_and_downgrades_cleanly(database_url: str) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0007")
    diffs, tables, indexes = await _inspect(database_url)
    assert diffs == []
    assert tables >= TABLES
    assert {"uq_tax_rate_key", "ix_promotion_redemption_customer"} <= indexes

    await asyncio.to_thread(command.downgrade, config, "0006")
    _, tables, indexes = await _inspect(database_url)
    assert not tables & TABLES
    assert "product_copy" in tables  # what came before is untouched
    assert "uq_tax_rate_key" not in indexes

    await asyncio.to_thread(command.upgrade, config, "0007")
    diffs, tables, _ = await _inspect(database_url)
    assert (diffs, tables >= TABLES) == ([], True)
