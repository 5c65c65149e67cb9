"""The transactional outbox: events are written in the same transaction as the state change.

A service never publishes to the bus from a request. It calls ``Outbox.add(session, data,
key=...)`` in the unit of work that changes its state; the event becomes a row of
``outbox_message`` and exists exactly when the change is committed (a rolled-back request
leaves no event). The relay (``emporium.kit.relay``) publishes committed rows afterwards.

Order: each row gets ``seq`` from the database when it is inserted (an identity column on
PostgreSQL; on SQLite, whose only autoincrement is the primary key, ``max(seq) + 1`` inside the
insert, which SQLite's single writer makes safe). The relay publishes by ``seq``, never by
``created_at``: ``created_at`` is the writing process's clock (informational, like the
envelope's ``time``), and two pods whose clocks differ would otherwise reorder one key's events.
``next_attempt_at`` starts at the database's ``now()`` for the same reason.

Wake-ups: on PostgreSQL ``add`` also runs ``pg_notify`` in the transaction (once per
transaction or savepoint, however many rows it stages; in the same statement as the row's
INSERT, so staging an event costs one round trip), which the server delivers only on
commit; in one process (the embedded mode) listeners registered with ``Outbox.on_commit``
are called after the session commits. Both only make the relay faster:
it also polls, so a lost wake-up delays an event by at most one poll interval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from emporium.contracts.base import EventData
from emporium.kit.db import Base
from emporium.kit.events import Envelope, wrap
from emporium.kit.tracing import current_context

__all__ = [
    "PARKED",
    "PENDING",
    "SENT",
    "Outbox",
    "OutboxMessage",
    "UTCDateTime",
    "channel_for",
    "create_kit_tables",
    "database_clock",
    "kit_tables",
    "outbox_table",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every kit timestamp column holds)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always gives back aware UTC datetimes.

    SQLite has no timezone type: it stores the text and returns naive values. Storing UTC and
    re-attaching UTC on the way out makes comparisons and arithmetic the same on both
    databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class database_clock(FunctionElement[datetime]):
    """The database server's current time, as SQL: what due-ness is measured against.

    PostgreSQL ``clock_timestamp()`` (the time of the call, not of the transaction's start:
    a key's rows are inserted one after the other under its aggregate's lock, so their
    ``next_attempt_at`` follow their commit order). SQLite has one clock (``strftime`` with
    microsecond digits, the text format SQLAlchemy stores, so comparisons with stored values
    are exact).
    """

    type = UTCDateTime()
    inherit_cache = True
    name = "database_clock"


@compiles(database_clock)
def _clock_default(element: database_clock, compiler: SQLCompiler, **kw: object) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(database_clock, "postgresql")
def _clock_postgresql(element: database_clock, compiler: SQLCompiler, **kw: object) -> str:
    return "clock_timestamp()"


@compiles(database_clock, "sqlite")
def _clock_sqlite(element: database_clock, compiler: SQLCompiler, **kw: object) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


#: ``status`` of a row: waiting to be published (perhaps backing off), published, or set
#: aside because it cannot be published (see the relay); only ``emporium-outbox retry``
#: puts a parked row back.
PENDING, SENT, PARKED = "pending", "sent", "parked"


class OutboxMessage(Base):
    """One event waiting for (or past) publication; ``id`` is the envelope id.

    ``seq`` (assigned by the database at insert) is the publication order; ``status`` is
    ``pending``, ``sent`` or ``parked``.
    """

    __tablename__ = "outbox_message"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), default=PENDING, server_default=PENDING)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        # The relay only ever looks at pending rows, in seq order; a partial index keeps that
        # lookup small however many sent rows are still retained.
        Index(
            "ix_outbox_message_pending",
            "seq",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # "Is an earlier row of this key held (parked, or waiting for a retry)?" Only rows
        # that failed once can be: this index stays empty while everything flows.
        Index(
            "ix_outbox_message_held",
            "key",
            "seq",
            postgresql_where=text("status = 'parked' OR (status = 'pending' AND attempts > 0)"),
            sqlite_where=text("status = 'parked' OR (status = 'pending' AND attempts > 0)"),
        ),
        Index("ix_outbox_message_sent_at", "sent_at"),
    )


outbox_table: Table = OutboxMessage.__table__  # type: ignore[assignment]


def kit_tables() -> list[Table]:
    """The kit's tables (outbox, inbox), for a service's migrations."""
    from emporium.kit.inbox import inbox_table

    return [outbox_table, inbox_table]


def create_kit_tables(connection: Connection) -> None:
    """Create the outbox and inbox tables if missing.

    Takes a synchronous connection, so it works in Alembic (``op.get_bind()``) and with an
    async engine through ``await conn.run_sync(create_kit_tables)``.
    """
    Base.metadata.create_all(connection, tables=kit_tables())


def channel_for(service_name: str) -> str:
    """The PostgreSQL NOTIFY channel of a service's outbox (a plain lower-case identifier)."""
    return "outbox_" + re.sub(r"[^a-z0-9_]+", "_", service_name.lower())[:50]


def next_seq() -> Any:
    """``max(seq) + 1`` as a scalar subquery (SQLite's ``seq`` at insert)."""
    return select(func.coalesce(func.max(outbox_table.c.seq), 0) + 1).scalar_subquery()


_HOOKED = "emporium.outbox.hooked"
_NOTIFIED = "emporium.outbox.notified"


class Outbox:
    """Writes events into the caller's unit of work; never commits by itself."""

    def __init__(self, source: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        """``source`` is the producing service's name (the envelope's ``source``).

        ``clock`` gives ``created_at`` (informational; tests inject a skewed one to show
        that it does not decide the order).
        """
        self.source = source
        self.clock = clock
        self.channel = channel_for(source)
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (synchronously, in the event loop) after a session that added
        events commits. The relay registers its ``wake`` here in the embedded mode."""
        self._listeners.append(listener)

    async def add(
        self,
        session: AsyncSession,
        data: EventData,
        *,
        key: str | UUID,
        topic: str | None = None,
    ) -> Envelope:
        """Wrap ``data`` in an envelope (carrying the current trace) and stage it in ``session``.

        ``topic`` defaults to the event's own topic. Returns the envelope (its ``id`` is the
        outbox row's id and the event id consumers deduplicate on).
        """
        envelope = wrap(data, source=self.source, key=key, trace=current_context())
        await self.add_envelope(session, envelope, topic=topic or data.topic)
        return envelope

    async def add_envelope(self, session: AsyncSession, envelope: Envelope, *, topic: str) -> None:
        """Stage an already built envelope for ``topic`` in ``session``."""
        postgres = session.get_bind().dialect.name == "postgresql"
        # What the session holds is written first, as an ORM flush of the row would have
        # (no round trip when nothing is pending).
        await session.flush()
        row = insert(outbox_table).values(
            id=envelope.id,
            topic=topic,
            key=envelope.key,
            type=envelope.type,
            envelope=envelope.to_bytes(),
            status=PENDING,
            created_at=self.clock(),
            attempts=0,
            # SQL expressions, evaluated by the database in the INSERT: its clock, not the
            # process's; and on SQLite, whose only autoincrement is the primary key's, the
            # ``seq`` (its single writer makes max + 1 inside the INSERT safe: the write
            # lock is held until the commit).
            next_attempt_at=database_clock(),
            **({} if postgres else {"seq": next_seq()}),
        )
        if not postgres or self._notified_in(session):
            await session.execute(row)
        else:
            # The INSERT and its NOTIFY in one statement: a data-modifying CTE runs once,
            # and the NOTIFY once per row it returns (one).
            staged = row.returning(outbox_table.c.id).cte("staged")
            await session.execute(select(func.pg_notify(self.channel, "")).select_from(staged))
            self._mark_notified(session)
        self._hook(session)

    # ``pg_notify`` once per (sub)transaction: the relay drains every due row when it wakes,
    # so one wake-up per commit does (a checkout's consumer batch stages several events).
    # NOTIFY is transactional: heard only if the transaction commits; one made in a
    # savepoint that is rolled back is discarded, so another savepoint notifies again
    # (keyed by the innermost transaction).
    def _notified_in(self, session: AsyncSession) -> bool:
        current = self._innermost(session)
        return current is not None and session.info.get((_NOTIFIED, id(self))) is current

    def _mark_notified(self, session: AsyncSession) -> None:
        session.info[(_NOTIFIED, id(self))] = self._innermost(session)

    @staticmethod
    def _innermost(session: AsyncSession) -> Any:
        sync = session.sync_session
        return sync.get_nested_transaction() or sync.get_transaction()

    def _hook(self, session: AsyncSession) -> None:
        marker = (_HOOKED, id(self))
        if not self._listeners or session.info.get(marker):
            return
        session.info[marker] = True
        event.listen(session.sync_session, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        for listener in self._listeners:
            listener()
