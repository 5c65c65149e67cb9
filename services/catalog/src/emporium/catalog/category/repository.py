"""Category SQL."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import Category

__all__ = ["all_categories", "by_id", "by_slug"]


async def all_categories(session: AsyncSession) -> Sequence[Category]:
    return (await session.scalars(select(Category).order_by(Category.name, Category.id))).all()


async def by_id(session: AsyncSession, category_id: UUID) -> Category | None:
    return await session.get(Category, category_id)


async def by_slug(session: AsyncSession, slug: str) -> Category | None:
    return await session.scalar(select(Category).where(Category.slug == slug))
