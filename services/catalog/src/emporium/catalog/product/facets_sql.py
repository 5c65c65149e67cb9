"""The listing's ``facets`` in SQL: the listing's filters without its order, cursor or
limit as one materialised set of matches, then two grouped reads over it (categories, and
option values counted once per product), assembled by the rules of ``listing_facets``
(its ``count_facets`` is the reference this is tested against)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.listing_facets import CategoryCount, Facets, ValueCount
from emporium.catalog.models import Category, Product, VariantOption
from emporium.catalog.product.repository import ListingQuery, filtered

__all__ = ["facet_statements", "listing_facets"]


def facet_statements(
    query: ListingQuery, *, postgres: bool
) -> tuple[Select[UUID, str, int], Select[str, str, str, str, int]]:
    """The two grouped reads: (category id, slug, products) and (name key, value key,
    smallest name, smallest value, products) over the products the listing filters."""
    matching, _ = filtered(
        select(Product.id.label("id"), Product.category_id.label("category_id")),
        query,
        postgres=postgres,
    )
    matches = matching.cte("facet_matches")
    if postgres:
        # Computed once for both reads, not folded into each of them.
        matches = matches.prefix_with("MATERIALIZED")
    categories = (
        select(Category.id, Category.slug, func.count())
        .select_from(matches)
        .join(Category, Category.id == matches.c.category_id)
        .group_by(Category.id, Category.slug)
    )
    # Labels are the smallest spelling by code point (UTF-8 bytes: PostgreSQL's "C"
    # collation; SQLite compares bytes already).
    name, value = VariantOption.name, VariantOption.value
    if postgres:
        name, value = name.collate("C"), value.collate("C")  # type: ignore[assignment]
    options = (
        select(
            VariantOption.name_key,
            VariantOption.value_key,
            func.min(name),
            func.min(value),
            func.count(distinct(VariantOption.product_id)),
        )
        .select_from(matches)
        .join(VariantOption, VariantOption.product_id == matches.c.id)
        .group_by(VariantOption.name_key, VariantOption.value_key)
    )
    return categories, options


def assemble(
    categories: Iterable[tuple[UUID, str, int]], options: Iterable[tuple[str, str, str, str, int]]
) -> Facets:
    """The rows of ``facet_statements`` ordered and labelled as ``count_facets`` does."""
    category_counts = sorted(
        (CategoryCount(cid, slug, n) for cid, slug, n in categories),
        key=lambda c: (-c.count, c.slug, c.id),
    )
    labels: dict[str, str] = {}
    values: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for name_key, value_key, name, value, count in options:
        labels[name_key] = min(labels.get(name_key, name), name)
        values[name_key].append((value_key, value, count))
    return Facets(
        tuple(category_counts),
        {
            labels[nk]: tuple(
                ValueCount(label, count)
                for _, label, count in sorted(values[nk], key=lambda v: (-v[2], v[0]))
            )
            for nk in sorted(labels)
        },
    )


async def listing_facets(session: AsyncSession, query: ListingQuery, *, postgres: bool) -> Facets:
    categories, options = facet_statements(query, postgres=postgres)
    return assemble(
        (await session.execute(categories)).all(), (await session.execute(options)).all()
    )
