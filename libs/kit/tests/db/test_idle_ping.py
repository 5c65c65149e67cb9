"""The pool pings a connection only after it sat idle, and still never hands out a dead one
that has sat idle; one cut while busy fails once, then the pool reconnects.

Each test has a PostgreSQL database of its own (``postgres_url``); the server side of the
pooled connection is ended with ``pg_terminate_backend``, as a restart would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from emporium.kit.db import Database
from emporium.kit.errors import unavailable_dependency


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    made = Database(postgres_url, pool_size=1, ping_after_idle_seconds=0.3)
    yield made
    await made.dispose()


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(url: str, pid: int) -> None:
    connection = await asyncpg.connect(_plain(url))
    try:
        await connection.execute("SELECT pg_terminate_backend($1)", pid)
        # It returns once signalled: wait until the backend is gone.
        for _ in range(100):
            if not await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def test_a_connection_cut_while_idle_is_replaced_before_use(
    database: Database, postgres_url: str
) -> None:
    first = await _backend_pid(database)
    await _terminate(postgres_url, first)
    await asyncio.sleep(0.5)  # idle past the ping threshold
    second = await _backend_pid(database)
    assert second != first


async def test_a_connection_reused_at_once_is_not_pinged(database: Database) -> None:
    pings: list[str] = []
    original = database.engine.dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        pings.append("ping")
        return bool(original(dbapi_connection))

    database.engine.dialect.do_ping = counting  # type: ignore[method-assign]
    for _ in range(5):
        await _backend_pid(database)
    assert pings == []
    await asyncio.sleep(0.5)
    await _backend_pid(database)
    assert pings == ["ping"]


async def test_a_connection_cut_while_busy_fails_as_unavailable_then_the_pool_reconnects(
    database: Database, postgres_url: str
) -> None:
    first = await _backend_pid(database)
    await _terminate(postgres_url, first)
    # Reused at once (no ping): the dead connection's first statement fails, as a
    # database outage does: a 503 for a request, a retry for a consumer.
    with pytest.raises(sa_exc.DBAPIError) as failed:
        await _backend_pid(database)
    assert unavailable_dependency(failed.value) == "database"
    assert await _backend_pid(database) != first
