"""Inventory SQL. Stock rows are always locked in product-id order, so two transactions
locking overlapping sets of products cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import OrderReservation, Product, ReservationLine, Stock

__all__ = ["lines_of", "lock_any_stock", "lock_order", "lock_stock"]


async def lock_stock(session: AsyncSession, product_ids: Iterable[UUID]) -> dict[UUID, Stock]:
    """The live products' stock rows among ``product_ids``, locked ``FOR UPDATE``."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    stmt = (
        select(Stock)
        .join(Product, Product.id == Stock.product_id)
        .where(Stock.product_id.in_(ids), Product.deleted_at.is_(None))
        .order_by(Stock.product_id)
        .with_for_update(of=Stock)
    )
    return {stock.product_id: stock for stock in await session.scalars(stmt)}


async def lock_any_stock(session: AsyncSession, product_ids: Iterable[UUID]) -> dict[UUID, Stock]:
    """Like ``lock_stock`` but deleted products too (a reservation may outlive its product)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    stmt = (
        select(Stock).where(Stock.product_id.in_(ids)).order_by(Stock.product_id).with_for_update()
    )
    return {stock.product_id: stock for stock in await session.scalars(stmt)}


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderReservation | None:
    stmt = select(OrderReservation).where(OrderReservation.order_id == order_id)
    return await session.scalar(stmt.with_for_update())


async def lines_of(session: AsyncSession, order_id: UUID) -> Sequence[ReservationLine]:
    stmt = select(ReservationLine).where(ReservationLine.order_id == order_id)
    return (await session.scalars(stmt.order_by(ReservationLine.product_id))).all()
