"""Category rules: unique slug, existing parent; the subtree of a category for listings."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.category import repository
from emporium.catalog.category.schemas import CategoryCreate
from emporium.catalog.errors import CategoryNotFound, DuplicateSlug
from emporium.catalog.invalidation import mark_stale
from emporium.catalog.models import Category

__all__ = ["CATEGORIES", "create_category", "subtree_ids"]

#: Cache family of the category list.
CATEGORIES = "categories"


async def create_category(session: AsyncSession, data: CategoryCreate) -> Category:
    if data.parent_id is not None and await repository.by_id(session, data.parent_id) is None:
        raise CategoryNotFound(f"no category {data.parent_id}", field="parent_id")
    if await repository.by_slug(session, data.slug) is not None:
        raise DuplicateSlug(f"a category already has the slug {data.slug!r}", slug=data.slug)
    category = Category(slug=data.slug, name=data.name, parent_id=data.parent_id)
    session.add(category)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent insert of the same slug
        raise DuplicateSlug(
            f"a category already has the slug {data.slug!r}", slug=data.slug
        ) from None
    mark_stale(session, CATEGORIES)
    return category


async def subtree_ids(session: AsyncSession, ref: str) -> list[UUID]:
    """Ids of the category ``ref`` (a slug or an id) and all below it; [] if unknown."""
    categories = await repository.all_categories(session)
    root: UUID | None = None
    try:
        wanted = UUID(ref)
    except ValueError:
        wanted = None
    for category in categories:
        if category.id == wanted or category.slug == ref:
            root = category.id
            break
    if root is None:
        return []
    children: dict[UUID | None, list[UUID]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found, todo = [], [root]
    while todo:
        current = todo.pop()
        if current in found:  # a cycle cannot be built through the API; be safe anyway
            continue
        found.append(current)
        todo.extend(children.get(current, []))
    return found
