"""The transactional outbox: events are written in the same transaction as the state change.

A service never publishes to the bus from a request. It calls ``Outbox.add(session, data,
key=...)`` in the unit of work that changes its state; the event becomes a row of
``outbox_message`` and exists exactly when the change is committed (a rolled-back request
leaves no event). The relay (``emporium.kit.relay``) publishes committed rows afterwards.

Wake-ups: on PostgreSQL ``add`` also runs ``pg_notify`` in the transaction, which the
server delivers only on commit; in one process (the embedded mode) listeners registered with
``Outbox.on_commit`` are called after the session commits. Both only make the relay faster:
it also polls, so a lost wake-up delays an event by at most one poll interval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import (
    DateTime,
    Dialect,
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
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from emporium.contracts.base import EventData
from emporium.kit.db import Base
from emporium.kit.events import Envelope, wrap
from emporium.kit.tracing import current_context

__all__ = [
    "Outbox",
    "OutboxMessage",
    "UTCDateTime",
    "channel_for",
    "create_kit_tables",
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


class OutboxMessage(Base):
    """One event waiting for (or past) publication; ``id`` is the envelope id."""

    __tablename__ = "outbox_message"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
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
        # The relay only ever looks at unsent rows, oldest first; a partial index keeps that
        # lookup small however many sent rows are still retained.
        Index(
            "ix_outbox_message_pending",
            "created_at",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
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


_HOOKED = "emporium.outbox.hooked"


class Outbox:
    """Writes events into the caller's unit of work; never commits by itself."""

    def __init__(self, source: str) -> None:
        """``source`` is the producing service's name (the envelope's ``source``)."""
        self.source = source
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
        now = utcnow()
        session.add(
            OutboxMessage(
                id=envelope.id,
                topic=topic,
                key=envelope.key,
                type=envelope.type,
                envelope=envelope.to_bytes(),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        await session.flush()
        if session.get_bind().dialect.name == "postgresql":
            # NOTIFY is transactional: the relay hears it only if this transaction commits.
            await session.execute(select(func.pg_notify(self.channel, "")))
        self._hook(session)

    def _hook(self, session: AsyncSession) -> None:
        marker = (_HOOKED, id(self))
        if not self._listeners or session.info.get(marker):
            return
        session.info[marker] = True
        event.listen(session.sync_session, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        for listener in self._listeners:
            listener()
