"""Inventory rules: admins set ``on_hand``; orders reserve all their lines or none,
release them when cancelled and take them off the shelf when shipped.

Every order operation is idempotent through the per-order ``OrderReservation`` row: a
second ``OrderPlaced`` for an order already decided does nothing, a release or a commit
only acts on an order that is still ``reserved``, and a cancellation that arrives before
any reservation leaves a ``cancelled`` tombstone so that a late ``OrderPlaced`` is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.errors import ProductNotFound, StockBelowReserved
from emporium.catalog.invalidation import LISTING, mark_stale, product_family
from emporium.catalog.inventory import repository
from emporium.catalog.models import OrderReservation, ReservationLine, Stock
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.product import repository as products
from emporium.contracts.catalog import (
    ShortLine,
    StockChanged,
    StockReservationRejected,
    StockReserved,
)
from emporium.contracts.orders import OrderLine
from emporium.kit.outbox import utcnow

__all__ = ["commit_order", "release_order", "reserve_order", "set_on_hand"]


async def _changed(session: AsyncSession, stocks: Iterable[Stock]) -> None:
    now = utcnow()
    for stock in stocks:
        stock.updated_at = now
        await OUTBOX.add(
            session,
            StockChanged(
                product_id=stock.product_id,
                on_hand=stock.on_hand,
                reserved=stock.reserved,
                available=stock.available,
            ),
            key=stock.product_id,
        )
        mark_stale(session, product_family(stock.product_id))
    mark_stale(session, LISTING)


async def set_on_hand(session: AsyncSession, product_id: UUID, on_hand: int) -> Stock:
    """Set the units on the shelf; 409 if fewer than are reserved for orders."""
    stock = (await repository.lock_stock(session, [product_id])).get(product_id)
    if stock is None:
        if await products.live_product(session, product_id) is None:
            raise ProductNotFound(f"no product {product_id}")
        stock = Stock(product_id=product_id, on_hand=0, reserved=0)
        session.add(stock)
    if on_hand < stock.reserved:
        raise StockBelowReserved(
            f"{stock.reserved} units are reserved for orders; on_hand cannot go below that",
            reserved=stock.reserved,
        )
    stock.on_hand = on_hand
    await session.flush()
    await _changed(session, [stock])
    return stock


async def reserve_order(session: AsyncSession, order_id: UUID, lines: list[OrderLine]) -> bool:
    """Reserve every line of the order or none; publishes the outcome. True if reserved."""
    if await repository.lock_order(session, order_id) is not None:
        return False  # decided before (or cancelled first): nothing more to do
    record = OrderReservation(order_id=order_id, status="pending")
    session.add(record)
    await session.flush()  # the primary key serialises two deliveries of one order

    wanted = Counter[UUID]()
    for line in lines:
        wanted[line.product_id] += line.quantity
    stocks = await repository.lock_stock(session, wanted)
    short = [
        ShortLine(product_id=pid, requested=qty, available=max(stocks[pid].available, 0))
        if pid in stocks
        else ShortLine(product_id=pid, requested=qty, available=0)
        for pid, qty in sorted(wanted.items())
        if pid not in stocks or stocks[pid].available < qty
    ]
    if short:
        record.status = "rejected"
        await OUTBOX.add(
            session, StockReservationRejected(order_id=order_id, short_lines=short), key=order_id
        )
        return False
    for pid, qty in sorted(wanted.items()):
        stocks[pid].reserved += qty
        session.add(ReservationLine(order_id=order_id, product_id=pid, quantity=qty))
    record.status = "reserved"
    await session.flush()
    await OUTBOX.add(session, StockReserved(order_id=order_id), key=order_id)
    await _changed(session, [stocks[pid] for pid in sorted(wanted)])
    return True


async def _settle(session: AsyncSession, order_id: UUID, *, ship: bool) -> bool:
    record = await repository.lock_order(session, order_id)
    if record is None:
        if not ship:  # cancelled before the reservation: refuse a late OrderPlaced
            session.add(OrderReservation(order_id=order_id, status="cancelled"))
            await session.flush()
        return False
    if record.status != "reserved":
        return False
    lines = await repository.lines_of(session, order_id)
    stocks = await repository.lock_any_stock(session, [line.product_id for line in lines])
    for line in lines:
        stock = stocks.get(line.product_id)
        if stock is None:
            continue
        stock.reserved -= line.quantity
        if ship:
            stock.on_hand -= line.quantity
    record.status = "committed" if ship else "released"
    record.updated_at = utcnow()
    await session.flush()
    await _changed(session, stocks.values())
    return True


async def release_order(session: AsyncSession, order_id: UUID) -> bool:
    """Give an order's reserved units back (cancelled); True if anything was released."""
    return await _settle(session, order_id, ship=False)


async def commit_order(session: AsyncSession, order_id: UUID) -> bool:
    """Take an order's reserved units off the shelf (shipped); True if anything moved."""
    return await _settle(session, order_id, ship=True)
