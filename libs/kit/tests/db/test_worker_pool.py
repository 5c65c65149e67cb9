"""Background workers have a pool of their own; a request waits a bounded time for its own.

While HTTP requests hold every connection of the requests' pool, a worker still gets one
from ``Database.for_workers()``; the next request's wait for a connection ends after
``pool_timeout`` with an error the kit answers as 503 (``unavailable_dependency``), never
a 500 and never a wait longer than the gateway's. Each test has a PostgreSQL database of
its own (``postgres_url``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from emporium.kit.db import Database
from emporium.kit.errors import unavailable_dependency


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    # pool_size 1 with as many on overflow: two request connections at most.
    made = Database(postgres_url, pool_size=1, pool_timeout=0.2)
    yield made
    await made.dispose()


async def _backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_worker_gets_a_connection_while_requests_hold_all_of_theirs(
    database: Database,
) -> None:
    async with contextlib.AsyncExitStack() as held:
        for _ in range(2):
            connection = await held.enter_async_context(database.engine.connect())
            await connection.execute(text("SELECT 1"))
        with pytest.raises(sa_exc.TimeoutError) as waited:
            await _backend_pid(database)
        assert unavailable_dependency(waited.value) == "database"  # a 503, not a 500

        workers = database.for_workers(pool_size=1)
        assert await _backend_pid(workers) > 0
        assert database.for_workers() is workers  # one pool for all the workers


async def test_disposing_the_database_closes_the_workers_connections_too(
    database: Database,
) -> None:
    workers = database.for_workers(pool_size=1)
    pid = await _backend_pid(workers)
    async with database.session() as session:
        assert (
            await session.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        ).scalar_one() == 1
    await database.dispose()
    assert workers.engine.pool.checkedin() == 0


async def test_on_sqlite_the_workers_share_the_one_engine(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        assert database.for_workers() is database
    finally:
        await database.dispose()
