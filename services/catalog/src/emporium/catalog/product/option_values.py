"""``product_option_value``: each live product's option values once (by key, in their
smallest spelling among its live variants), derived from ``variant_option``.

It is what facets count (a ``count(*)`` per value, index-only) and what a one-name option
filter probes, instead of joins through every variant's rows with ``count(DISTINCT)``.
``refresh`` rewrites a product's rows from its ``variant_option`` rows; every write of
those (``variants.repository.replace_options`` and ``soft_delete``) calls it in its own
transaction, after the product row is locked, so the two never disagree after a commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import ProductOptionValue, VariantOption

__all__ = ["refresh"]


async def refresh(session: AsyncSession, product_ids: Iterable[UUID]) -> None:
    """Rewrite the rows of ``product_ids`` from their variants' option rows (flushes first:
    the caller's pending option rows count)."""
    ids = sorted(set(product_ids))
    if not ids:
        return
    await session.flush()
    await session.execute(delete(ProductOptionValue).where(ProductOptionValue.product_id.in_(ids)))
    name, value = VariantOption.name, VariantOption.value
    if session.get_bind().dialect.name == "postgresql":
        # The smallest by code point, as the facets' labels are (SQLite compares bytes).
        name, value = name.collate("C"), value.collate("C")  # type: ignore[assignment]
    rows = (
        select(
            VariantOption.product_id,
            VariantOption.name_key,
            VariantOption.value_key,
            func.min(name),
            func.min(value),
        )
        .where(VariantOption.product_id.in_(ids))
        .group_by(VariantOption.product_id, VariantOption.name_key, VariantOption.value_key)
    )
    await session.execute(
        insert(ProductOptionValue).from_select(
            ["product_id", "name_key", "value_key", "name", "value"], rows
        )
    )
