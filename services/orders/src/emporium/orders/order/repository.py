"""SQL of orders, their lines and their history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import String, Text, Uuid, and_, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.outbox import PARKED, SENT, OutboxMessage, UTCDateTime
from emporium.orders.models import CustomerOrder, OrderLine, OrderStatusChange, Payment
from emporium.orders.saga.deadline import PlacedRow

__all__ = [
    "ToCharge",
    "append_history",
    "by_key",
    "erase_personal_data",
    "get",
    "get_for_update",
    "get_with_payment_for_update",
    "history",
    "lines",
    "lock_to_charge",
    "page",
    "payment",
    "placed_row",
    "stale_pending",
]


async def get(session: AsyncSession, order_id: UUID) -> CustomerOrder | None:
    return await session.get(CustomerOrder, order_id)


async def get_for_update(session: AsyncSession, order_id: UUID) -> CustomerOrder | None:
    """The order, locked until the transaction ends (PostgreSQL; SQLite serialises writers)."""
    return await session.scalar(
        select(CustomerOrder)
        .where(CustomerOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True, slots=True)
class ToCharge:
    """What a reservation needs of an order to make its payment step."""

    id: UUID
    status: str
    total_amount: int
    currency: str
    card_token: str | None
    has_payment: bool


async def lock_to_charge(session: AsyncSession, order_id: UUID) -> ToCharge | None:
    """The order locked (as ``get_for_update``) and whether it has a payment row, in one
    statement of the columns it takes (only the order is locked; its JSON columns, the
    breakdown and the address, are not read)."""
    found = (
        await session.execute(
            select(
                CustomerOrder.id,
                CustomerOrder.status,
                CustomerOrder.total_amount,
                CustomerOrder.currency,
                CustomerOrder.card_token,
                Payment.order_id,
            )
            .outerjoin(Payment, Payment.order_id == CustomerOrder.id)
            .where(CustomerOrder.id == order_id)
            .with_for_update(of=CustomerOrder)
        )
    ).first()
    if found is None:
        return None
    return ToCharge(found[0], found[1], found[2], found[3], found[4], found[5] is not None)


async def get_with_payment_for_update(
    session: AsyncSession, order_id: UUID
) -> tuple[CustomerOrder, Payment] | None:
    """The order and its payment row, both locked, in one statement (None: either missing).

    PostgreSQL locks the rows of one ``FOR UPDATE`` in the order of the FROM list: the
    order first, then the payment, the order a customer's cancel takes them in, so the two
    cannot deadlock."""
    found = (
        await session.execute(
            select(CustomerOrder, Payment)
            .select_from(CustomerOrder)
            .join(Payment, Payment.order_id == CustomerOrder.id)
            .where(CustomerOrder.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def by_key(session: AsyncSession, customer_id: UUID, key: str) -> CustomerOrder | None:
    return await session.scalar(
        select(CustomerOrder).where(
            CustomerOrder.customer_id == customer_id, CustomerOrder.idempotency_key == key
        )
    )


async def lines(session: AsyncSession, order_ids: Sequence[UUID]) -> dict[UUID, list[OrderLine]]:
    out: dict[UUID, list[OrderLine]] = {i: [] for i in order_ids}
    if order_ids:
        rows = await session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id.in_(order_ids))
            .order_by(OrderLine.order_id, OrderLine.position)
        )
        for row in rows:
            out[row.order_id].append(row)
    return out


async def history(
    session: AsyncSession, order_ids: Sequence[UUID], *, after_seq: int = 0
) -> dict[UUID, list[OrderStatusChange]]:
    out: dict[UUID, list[OrderStatusChange]] = {i: [] for i in order_ids}
    if order_ids:
        rows = await session.scalars(
            select(OrderStatusChange)
            .where(OrderStatusChange.order_id.in_(order_ids), OrderStatusChange.seq > after_seq)
            .order_by(OrderStatusChange.order_id, OrderStatusChange.seq)
        )
        for row in rows:
            out[row.order_id].append(row)
    return out


async def append_history(
    session: AsyncSession,
    order_id: UUID,
    *,
    status: str,
    trigger: str,
    reason: str | None,
    at: datetime,
) -> None:
    """Add the order's next history entry, its number worked out by the INSERT itself (one
    statement, not a read of the last number and a write). The caller holds the order
    locked, so no other entry of it is being added."""
    entry = select(
        literal(order_id, Uuid()),
        func.coalesce(func.max(OrderStatusChange.seq), 0) + 1,
        literal(status, String()),
        literal(trigger, String()),
        literal(reason, Text()),
        literal(at, UTCDateTime()),
    ).where(OrderStatusChange.order_id == order_id)
    await session.execute(
        insert(OrderStatusChange).from_select(
            ["order_id", "seq", "status", "trigger", "reason", "at"], entry
        )
    )


async def page(
    session: AsyncSession,
    *,
    customer_id: UUID | None,
    status: str | None,
    after: UUID | None,
    limit: int,
) -> list[CustomerOrder]:
    """Newest first; ids are UUIDv7, so id order is creation order and a stable cursor."""
    query = select(CustomerOrder)
    if customer_id is not None:
        query = query.where(CustomerOrder.customer_id == customer_id)
    if status is not None:
        query = query.where(CustomerOrder.status == status)
    if after is not None:
        query = query.where(CustomerOrder.id < after)
    rows = await session.scalars(query.order_by(CustomerOrder.id.desc()).limit(limit))
    return list(rows)


async def payment(session: AsyncSession, order_id: UUID, *, lock: bool = False) -> Payment | None:
    query = select(Payment).where(Payment.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


async def stale_pending(session: AsyncSession, *, before: datetime, limit: int) -> list[UUID]:
    """Pending orders catalog has not answered (no payment step) that may be overdue at
    ``before + timeout``: placed before ``before``, and their ``OrderPlaced`` row published
    before ``before``, parked, or unknown (``saga/deadline.py`` decides, under the lock)."""
    rows = await session.scalars(
        select(CustomerOrder.id)
        .outerjoin(Payment, Payment.order_id == CustomerOrder.id)
        .outerjoin(OutboxMessage, OutboxMessage.id == CustomerOrder.placed_event_id)
        .where(
            CustomerOrder.status == "pending",
            CustomerOrder.created_at < before,
            Payment.order_id.is_(None),
            or_(
                OutboxMessage.id.is_(None),
                OutboxMessage.status == PARKED,
                and_(OutboxMessage.status == SENT, OutboxMessage.sent_at < before),
            ),
        )
        .order_by(CustomerOrder.created_at)
        .limit(limit)
    )
    return list(rows)


async def placed_row(session: AsyncSession, event_id: UUID | None) -> PlacedRow | None:
    """The state of an order's ``OrderPlaced`` outbox row; None when unknown or purged."""
    if event_id is None:
        return None
    found = (
        await session.execute(
            select(OutboxMessage.status, OutboxMessage.sent_at).where(OutboxMessage.id == event_id)
        )
    ).first()
    return None if found is None else PlacedRow(status=found[0], sent_at=found[1])


async def erase_personal_data(session: AsyncSession, customer_id: UUID, at: datetime) -> int:
    result = await session.execute(
        update(CustomerOrder)
        .where(CustomerOrder.customer_id == customer_id)
        .values(shipping_address=None, personal_data_erased_at=at)
    )
    # A pending order still needs its card token for the charge; the payment step drops it.
    await session.execute(
        update(CustomerOrder)
        .where(CustomerOrder.customer_id == customer_id, CustomerOrder.status != "pending")
        .values(card_token=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
