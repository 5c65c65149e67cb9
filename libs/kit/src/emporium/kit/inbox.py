"""The inbox: which events a consumer group has already applied, so redeliveries do nothing.

The bus delivers at least once (a relay may publish twice, a consumer may crash before it
commits its offsets). A group claims an event with ``claim(session, group, event_id)`` in
the same transaction as the handler's effects: the row and the effects commit together, so
an event is applied exactly once in effect.

The claim inserts first (``ON CONFLICT DO NOTHING``) rather than reading first: on
PostgreSQL a second member handling the same event at the same moment waits on the primary
key until the first commits, then sees the conflict, so two concurrent deliveries can never
both apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import String, Table, bindparam, delete, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from emporium.kit.db import Base
from emporium.kit.outbox import UTCDateTime, utcnow

__all__ = ["InboxMessage", "claim", "claim_many", "inbox_table", "purge_inbox", "seen"]


class InboxMessage(Base):
    """One event applied by one consumer group."""

    __tablename__ = "inbox_message"

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


inbox_table: Table = InboxMessage.__table__  # type: ignore[assignment]


async def claim(session: AsyncSession, group: str, event_id: UUID, event_type: str = "") -> bool:
    """Record that ``group`` applies ``event_id`` in this transaction.

    True the first time; False when the group already applied it (a duplicate: apply
    nothing). The claim only holds if the caller's transaction commits.
    """
    values = {
        "consumer_group": group,
        "event_id": event_id,
        "event_type": event_type,
        "handled_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    returned = inbox_table.c.event_id
    if dialect == "postgresql":
        statement = (
            postgresql.insert(inbox_table)
            .values(values)
            .on_conflict_do_nothing()
            .returning(returned)
        )
    elif dialect == "sqlite":
        statement = (
            sqlite.insert(inbox_table).values(values).on_conflict_do_nothing().returning(returned)
        )
    else:  # pragma: no cover - the kit supports PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database {dialect}")
    result = await session.execute(statement)
    return result.first() is not None


#: One statement whatever the batch's size (so asyncpg prepares it once): the ids and types
#: travel as two arrays. Sorted by id, so two members claiming overlapping batches take the
#: primary-key locks in the same order and cannot deadlock each other.
_CLAIM_MANY_POSTGRES = text(
    "INSERT INTO inbox_message (consumer_group, event_id, event_type, handled_at) "
    "SELECT :group, u.event_id, u.event_type, :handled_at "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS varchar[])) AS u(event_id, event_type) "
    "ORDER BY u.event_id "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(
    bindparam("ids", type_=postgresql.ARRAY(Uuid())),
    bindparam("types", type_=postgresql.ARRAY(String())),
)


async def claim_many(
    session: AsyncSession, group: str, events: Sequence[tuple[UUID, str]]
) -> set[UUID]:
    """``claim`` for a batch in one statement: the ids of ``events`` (id, type) claimed now.

    An id missing from the answer was applied before (a duplicate). ``events`` must not
    repeat an id (the caller keeps the first delivery of an event and treats the others as
    duplicates). Like ``claim``, the rows hold only if the caller's transaction commits; a
    concurrent member claiming the same id waits for this transaction, then sees it.
    """
    if not events:
        return set()
    now = utcnow()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        result = await session.execute(
            _CLAIM_MANY_POSTGRES,
            {
                "group": group,
                "handled_at": now,
                "ids": [event_id for event_id, _ in events],
                "types": [event_type for _, event_type in events],
            },
        )
        return {row[0] for row in result}
    if dialect != "sqlite":  # pragma: no cover - the kit supports PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database {dialect}")
    rows = [
        {"consumer_group": group, "event_id": event_id, "event_type": kind, "handled_at": now}
        for event_id, kind in sorted(events)
    ]
    statement = (
        sqlite.insert(inbox_table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(inbox_table.c.event_id)
    )
    return {row[0] for row in await session.execute(statement)}


async def seen(session: AsyncSession, group: str, event_id: UUID) -> bool:
    """Whether ``group`` has applied ``event_id`` (committed)."""
    found = await session.scalar(
        select(inbox_table.c.event_id).where(
            inbox_table.c.consumer_group == group, inbox_table.c.event_id == event_id
        )
    )
    return found is not None


async def purge_inbox(
    session: AsyncSession,
    *,
    older_than: datetime,
    group: str | None = None,
    limit: int | None = None,
) -> int:
    """Forget events handled before ``older_than`` (by ``group`` only, if given; at most
    ``limit`` rows, if given, so a large purge goes in short transactions); returns how
    many rows went.

    Only safe for events the bus can no longer redeliver: keep the inbox at least as long as
    the topics' retention. Each ``EventConsumer`` runs it for its own group every
    ``inbox_purge_interval_seconds`` with ``inbox_retention_days``.
    """
    condition = inbox_table.c.handled_at < older_than
    if group is not None:
        condition = condition & (inbox_table.c.consumer_group == group)
    statement = delete(inbox_table)
    if limit is None:
        statement = statement.where(condition)
    else:
        keys = tuple_(inbox_table.c.consumer_group, inbox_table.c.event_id)
        chosen = select(inbox_table.c.consumer_group, inbox_table.c.event_id)
        statement = statement.where(keys.in_(chosen.where(condition).limit(limit)))
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
