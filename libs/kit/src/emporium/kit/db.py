"""Async SQLAlchemy for PostgreSQL (asyncpg) and SQLite (aiosqlite).

``Database`` owns one engine per process; ``Database.session()`` is the unit of work: it
commits when the block ends and rolls back when it raises. The FastAPI dependency built by
``session_dependency`` gives each request exactly one such unit of work.
``Database.read_session()`` is for reads only: on PostgreSQL it runs without a transaction.

A pooled connection is pinged before use only when it sat idle in the pool for
``ping_after_idle_seconds`` (a server restart or an idle cut shows there); one handed back
moments ago is used as it is, which saves a round trip on every busy checkout. A connection
that died anyway fails its first statement as a disconnect: SQLAlchemy then invalidates it
and every connection older than it, so the next checkouts reconnect, and the caller gets a
503 (``errors.unavailable_dependency``) it can retry, as with any database outage.

A request waits at most ``pool_timeout`` (10 s) for a pooled connection, then gets that
503 (the pool's ``TimeoutError`` is a database that cannot serve now). A fresh connection
has the same 10 s (``connect_timeout``): a connect that takes 6 s on a loaded machine is a
slow database, not a missing one.

Background workers (the outbox relay, the event consumers, a service's own loops) take their
connections from ``Database.for_workers()``: a second, small engine on the same database, so
the saga's steps never queue behind a burst of HTTP requests that holds every request
connection (and a stuck worker never starves the requests either).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "idle_ping",
    "make_metadata",
    "session_dependency",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    """A MetaData with the house naming convention, so migrations name constraints stably."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for the kit's own tables (outbox, inbox); services make their own."""

    metadata = make_metadata()


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers go on while the relay writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


#: ``ConnectionPoolEntry.info`` key: when the connection was last handed back to the pool.
_CHECKED_IN_AT = "emporium_checked_in_at"


def _stamp_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Ping a connection at checkout when it sat in the pool ``idle_seconds`` or more.

    A failed ping raises ``DisconnectionError``, which makes the pool drop that connection
    and check out another (a fresh one if need be), as ``pool_pre_ping`` does.
    """

    def checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        checked_in = record.info.get(_CHECKED_IN_AT)
        if checked_in is None or time.monotonic() - checked_in < idle_seconds:
            return  # new, or back in the pool moments ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa_exc.DisconnectionError(f"ping failed: {error!r}") from error
        if not alive:
            raise sa_exc.DisconnectionError("ping failed")

    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", checkout)


class Database:
    """One engine and session factory for a service's own database."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        connect_timeout: float = 10.0,
        ping_after_idle_seconds: float = 2.0,
        pool_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._options: dict[str, Any] = {
            "echo": echo,
            "connect_timeout": connect_timeout,
            "ping_after_idle_seconds": ping_after_idle_seconds,
            "pool_timeout": pool_timeout,
        }
        self._workers: Database | None = None
        self.is_postgres = url.startswith("postgresql")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_postgres:
            # asyncpg waits 60 s for an unreachable host by default; a request should get its
            # 503 long before that.
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=pool_timeout,
                connect_args={"timeout": connect_timeout},
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        idle_ping(self.engine.sync_engine, ping_after_idle_seconds)
        if not self.is_postgres:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def for_workers(self, pool_size: int = 5) -> Database:
        """The ``Database`` background workers use: the same database, a pool of its own.

        Made on the first call (``pool_size`` is that call's) and disposed with this one. On
        SQLite it is this ``Database``: one file, and a second engine would only contend
        for its write lock.
        """
        if not self.is_postgres:
            return self
        if self._workers is None:
            self._workers = Database(self.url, pool_size=pool_size, **self._options)
        return self._workers

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit at the end of the block, roll back if it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @contextlib.asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: never write through it.

        On PostgreSQL its connection is in autocommit (each statement its own transaction):
        at READ COMMITTED every statement takes a snapshot of its own anyway, so ``BEGIN``
        and ``COMMIT`` would only be two more round trips. On SQLite it is ``session()``
        (one snapshot for the block).
        """
        if not self.is_postgres:
            async with self.session() as session:
                yield session
            return
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=autocommit, expire_on_commit=False) as session:
                yield session

    async def ping(self) -> None:
        """Raise if the database does not answer (used by ``/readyz``)."""
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._workers is not None:
            await self._workers.dispose()
        await self.engine.dispose()

    @property
    def sync_engine(self) -> Engine:
        return self.engine.sync_engine


def session_dependency(
    get_database: Callable[[], Database],
) -> Callable[[], AsyncIterator[AsyncSession]]:
    """Build a FastAPI dependency yielding one committed-or-rolled-back session per request."""

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with get_database().session() as session:
            yield session

    return get_session
