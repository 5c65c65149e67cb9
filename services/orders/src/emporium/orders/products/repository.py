"""Reads of the product read model."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders.models import ProductCopy

__all__ = ["get_product", "products_by_id"]


async def get_product(session: AsyncSession, product_id: UUID) -> ProductCopy | None:
    return await session.get(ProductCopy, product_id)


async def products_by_id(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, ProductCopy]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(ProductCopy).where(ProductCopy.id.in_(wanted)))
    return {row.id: row for row in rows}
