"""Alembic wiring a service reuses: its ``migrations/env.py`` is two lines.

``migrations/env.py``::

    from emporium.catalog.models import Base
    from emporium.kit.migrations import run_env
    run_env(Base.metadata)

and ``upgrade_to_head(script_location, url)`` migrates from code (``make dev``, the
container entrypoint, tests). The database URL comes from the caller or from the
``sqlalchemy.url`` option of the Alembic config, which ``upgrade_to_head`` sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["alembic_config", "run_env", "upgrade_to_head"]

#: The advisory lock migrations hold on PostgreSQL (any constant; one database per service).
_LOCK_KEY = 0x656D706F72  # "empor"


def alembic_config(script_location: str | Path, url: str) -> Config:
    """An Alembic config for a service's migrations folder and a database URL."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(script_location: str | Path, url: str) -> None:
    """Apply every migration not yet applied (idempotent). Blocking: call it off the loop."""
    command.upgrade(alembic_config(script_location, url), "head")


def _run(connection: Connection, metadata: MetaData | Sequence[MetaData]) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas starting together on an empty database would race to create the
            # same tables; the lock makes the others wait and then find the schema at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        context.run_migrations()


async def _run_async(url: str, metadata: MetaData | Sequence[MetaData]) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, metadata)
    finally:
        await engine.dispose()


def run_env(metadata: MetaData | Sequence[MetaData]) -> None:
    """The body of a service's ``migrations/env.py`` (online and offline modes)."""
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass `-x url=...` or set sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection, metadata)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async(url, metadata))
        return
    raise RuntimeError("upgrade_to_head blocks: call it with asyncio.to_thread from async code")
