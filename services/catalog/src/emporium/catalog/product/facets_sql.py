"""The listing's ``facets`` in SQL: two grouped reads over the products the listing's
filters select (without its order, cursor or limit), categories and option values,
assembled by the rules of ``listing_facets`` (its ``count_facets`` is the reference this is
tested against).

Option values are counted in ``product_option_value`` (a product's values once), so a
count is ``count(*)`` over an index-only scan: of its primary key per filtered product, or,
without any filter, of the whole table (it holds live products only, so no product read).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.listing_facets import CategoryCount, Facets, ValueCount
from emporium.catalog.models import Category, Product, ProductOptionValue
from emporium.catalog.product.repository import ListingQuery, filtered

__all__ = ["facet_statements", "listing_facets"]


def _unfiltered(query: ListingQuery) -> bool:
    """Whether the listing shows every live product (a currency alone filters nothing)."""
    return (
        query.category_ids is None
        and not query.q
        and query.min_price is None
        and query.max_price is None
        and query.in_stock is None
        and not query.options
    )


def facet_statements(
    query: ListingQuery, *, postgres: bool
) -> tuple[Select[UUID, str, int], Select[str, str, str, str, int]]:
    """The two grouped reads: (category id, slug, products) and (name key, value key,
    smallest name, smallest value, products) over the products the listing filters."""
    # Counted per category id first, then named: 20 rows joined, not every product.
    per_category, _ = filtered(
        select(Product.category_id, func.count().label("n")).where(
            Product.category_id.is_not(None)
        ),
        query,
        postgres=postgres,
    )
    counted = per_category.group_by(Product.category_id).subquery("per_category")
    categories = select(Category.id, Category.slug, counted.c.n).join(
        counted, counted.c.category_id == Category.id
    )
    # Labels are the smallest spelling by code point (UTF-8 bytes: PostgreSQL's "C"
    # collation; SQLite compares bytes already).
    value_row = ProductOptionValue
    name, value = value_row.name, value_row.value
    if postgres:
        name, value = name.collate("C"), value.collate("C")  # type: ignore[assignment]
    options = select(
        value_row.name_key, value_row.value_key, func.min(name), func.min(value), func.count()
    ).group_by(value_row.name_key, value_row.value_key)
    if not _unfiltered(query):
        matching, _ = filtered(select(Product.id), query, postgres=postgres)
        options = options.where(value_row.product_id.in_(matching.scalar_subquery()))
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
