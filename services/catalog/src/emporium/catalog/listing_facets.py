"""The listing's ``facets``: how many products of the whole filtered result (not the page)
are in each category and have each option value, as a pure function.

It is the reference the SQL version (one grouped query over the filtered products, to come
with the listing's variants) is tested against. The rules, which that query must keep:

- a product counts once per category (its own, not its ancestors') and once per option
  value, however many of its variants have that value;
- the option values counted are those of all the product's live variants (the filter
  decides which products are in the result, not which of their variants are counted);
- names and values are grouped by key (``variants.options.key``: trimmed, case-folded), and
  reported in their smallest spelling by code point (SQL: ``min(name COLLATE "C")``), so
  ``Size`` and ``size`` of two products are one facet, filtered by ``option.size``;
- products without a category count in no category; categories are ordered by count
  (most first) then slug, names by key, values by count then key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from emporium.catalog.variants.options import key

__all__ = ["CategoryCount", "FacetRow", "Facets", "ValueCount", "count_facets"]


@dataclass(frozen=True)
class FacetRow:
    """One variant of a product in the filtered result (a product comes once per variant;
    one without variants may come once with ``options`` empty)."""

    product_id: UUID
    category_id: UUID | None
    category_slug: str | None
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CategoryCount:
    id: UUID
    slug: str
    count: int


@dataclass(frozen=True)
class ValueCount:
    value: str
    count: int


@dataclass(frozen=True)
class Facets:
    categories: tuple[CategoryCount, ...]
    options: Mapping[str, tuple[ValueCount, ...]]

    def to_api(self) -> dict[str, Any]:
        """The shape of API.md's ``facets`` (ids as strings, as JSON has them)."""
        return {
            "categories": [
                {"id": str(c.id), "slug": c.slug, "count": c.count} for c in self.categories
            ],
            "options": {
                name: [{"value": v.value, "count": v.count} for v in values]
                for name, values in self.options.items()
            },
        }


class _Group:
    """Products per key, and the spellings the key was seen in."""

    def __init__(self) -> None:
        self.products: set[UUID] = set()
        self.spellings: set[str] = set()

    def add(self, product_id: UUID, spelling: str) -> None:
        self.products.add(product_id)
        self.spellings.add(spelling.strip())

    @property
    def label(self) -> str:
        return min(self.spellings)


def count_facets(rows: Iterable[FacetRow]) -> Facets:
    """The facets of the products in ``rows``; ValueError if one product comes with two
    different categories (rows from two different reads)."""
    category_of: dict[UUID, UUID | None] = {}
    categories: dict[UUID, tuple[str, set[UUID]]] = {}
    names: dict[str, _Group] = {}
    values: dict[str, dict[str, _Group]] = {}
    for row in rows:
        if category_of.setdefault(row.product_id, row.category_id) != row.category_id:
            raise ValueError(f"product {row.product_id} comes with two categories")
        if row.category_id is not None:
            slug = row.category_slug or ""
            categories.setdefault(row.category_id, (slug, set()))[1].add(row.product_id)
        for name, value in row.options.items():
            name_key = key(name)
            names.setdefault(name_key, _Group()).add(row.product_id, name)
            values.setdefault(name_key, {}).setdefault(key(value), _Group()).add(
                row.product_id, value
            )
    category_counts = sorted(
        (CategoryCount(cid, slug, len(products)) for cid, (slug, products) in categories.items()),
        key=lambda c: (-c.count, c.slug, c.id),
    )
    options = {
        names[name_key].label: tuple(
            ValueCount(group.label, len(group.products))
            for value_key, group in sorted(
                values[name_key].items(), key=lambda item: (-len(item[1].products), item[0])
            )
        )
        for name_key in sorted(names)
    }
    return Facets(tuple(category_counts), options)
