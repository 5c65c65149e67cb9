"""Variant SQL: variants, their option rows and prices, a product's options, the lowest
prices kept on the product, and units available per variant over every location."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import (
    Product,
    ProductOption,
    ProductPrice,
    StockLevel,
    Variant,
    VariantOption,
    VariantPrice,
)
from emporium.catalog.product import option_values

__all__ = [
    "SoldVariant",
    "available",
    "combination_taken",
    "live_variant",
    "live_variants",
    "lowest_prices",
    "next_position",
    "option_rows",
    "option_rows_of_products",
    "options_of",
    "prices_of",
    "replace_options",
    "replace_prices",
    "replace_product_options",
    "replace_product_prices",
    "sku_taken",
    "soft_delete",
    "sold_variants",
]


async def live_variant(session: AsyncSession, variant_id: UUID) -> Variant | None:
    """The variant if it and its product are live."""
    stmt = (
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id == variant_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
    )
    return await session.scalar(stmt)


async def live_variants(session: AsyncSession, product_ids: Sequence[UUID]) -> list[Variant]:
    """The live variants of ``product_ids``, per product in their position order."""
    if not product_ids:
        return []
    stmt = (
        select(Variant)
        .where(Variant.product_id.in_(product_ids), Variant.deleted_at.is_(None))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    return list(await session.scalars(stmt))


@dataclass(frozen=True)
class SoldVariant:
    """A live variant with its price in one currency (None: not sold in it) and its units
    available over every location (0 without stock rows, never below 0)."""

    variant: Variant
    amount: int | None
    units: int


async def sold_variants(
    session: AsyncSession, product_ids: Sequence[UUID], currency: str
) -> list[SoldVariant]:
    """``live_variants`` with ``prices_of`` and ``available`` in the same statement: one
    round trip instead of three for a product's (or a page's) answer."""
    if not product_ids:
        return []
    price = (
        select(VariantPrice.amount)
        .where(VariantPrice.variant_id == Variant.id, VariantPrice.currency == currency)
        .scalar_subquery()
    )
    units = (
        select(func.sum(StockLevel.on_hand - StockLevel.reserved))
        .where(StockLevel.variant_id == Variant.id)
        .scalar_subquery()
    )
    stmt = (
        select(Variant, price, units)
        .where(Variant.product_id.in_(product_ids), Variant.deleted_at.is_(None))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    return [
        SoldVariant(variant, amount, max(int(available or 0), 0))
        for variant, amount, available in (await session.execute(stmt)).all()
    ]


async def next_position(session: AsyncSession, product_id: UUID) -> int:
    stmt = select(func.max(Variant.position)).where(Variant.product_id == product_id)
    last = await session.scalar(stmt)
    return 0 if last is None else last + 1


async def sku_taken(session: AsyncSession, sku: str, *, other_than: UUID | None = None) -> bool:
    """Whether a live variant (of any product) has this SKU."""
    stmt = select(Variant.id).where(Variant.sku == sku, Variant.deleted_at.is_(None))
    if other_than is not None:
        stmt = stmt.where(Variant.id != other_than)
    return (await session.scalar(stmt.limit(1))) is not None


async def combination_taken(
    session: AsyncSession, product_id: UUID, combination_key: str, *, other_than: UUID | None
) -> bool:
    stmt = select(Variant.id).where(
        Variant.product_id == product_id,
        Variant.combination_key == combination_key,
        Variant.deleted_at.is_(None),
    )
    if other_than is not None:
        stmt = stmt.where(Variant.id != other_than)
    return (await session.scalar(stmt.limit(1))) is not None


async def options_of(
    session: AsyncSession, product_ids: Sequence[UUID]
) -> dict[UUID, list[ProductOption]]:
    """Each product's options in position order."""
    found: dict[UUID, list[ProductOption]] = {pid: [] for pid in product_ids}
    if not product_ids:
        return found
    stmt = (
        select(ProductOption)
        .where(ProductOption.product_id.in_(product_ids))
        .order_by(ProductOption.product_id, ProductOption.position)
    )
    for option in await session.scalars(stmt):
        found[option.product_id].append(option)
    return found


async def option_rows(
    session: AsyncSession, variant_ids: Sequence[UUID]
) -> dict[UUID, dict[str, VariantOption]]:
    """Each variant's option rows by name key."""
    found: dict[UUID, dict[str, VariantOption]] = {vid: {} for vid in variant_ids}
    if not variant_ids:
        return found
    stmt = select(VariantOption).where(VariantOption.variant_id.in_(variant_ids))
    for row in await session.scalars(stmt):
        found[row.variant_id][row.name_key] = row
    return found


async def option_rows_of_products(
    session: AsyncSession, product_ids: Sequence[UUID]
) -> dict[UUID, dict[str, VariantOption]]:
    """Each variant's option rows by name key, for every variant of ``product_ids`` (deleted
    ones too: callers look up the live ones), without waiting for the variants' ids."""
    found: dict[UUID, dict[str, VariantOption]] = {}
    if not product_ids:
        return found
    stmt = select(VariantOption).where(VariantOption.product_id.in_(product_ids))
    for row in await session.scalars(stmt):
        found.setdefault(row.variant_id, {})[row.name_key] = row
    return found


async def prices_of(
    session: AsyncSession, variant_ids: Sequence[UUID], currency: str | None = None
) -> dict[UUID, dict[str, int]]:
    """Each variant's prices by currency (only ``currency``'s if given)."""
    found: dict[UUID, dict[str, int]] = {vid: {} for vid in variant_ids}
    if not variant_ids:
        return found
    stmt = select(VariantPrice).where(VariantPrice.variant_id.in_(variant_ids))
    if currency is not None:
        stmt = stmt.where(VariantPrice.currency == currency)
    for price in await session.scalars(stmt.order_by(VariantPrice.currency)):
        found[price.variant_id][price.currency] = price.amount
    return found


async def available(session: AsyncSession, variant_ids: Sequence[UUID]) -> dict[UUID, int]:
    """Units available per variant, summed over every location (0 without stock rows)."""
    found = dict.fromkeys(variant_ids, 0)
    if not variant_ids:
        return found
    stmt = (
        select(StockLevel.variant_id, func.sum(StockLevel.on_hand - StockLevel.reserved))
        .where(StockLevel.variant_id.in_(variant_ids))
        .group_by(StockLevel.variant_id)
    )
    for variant_id, units in (await session.execute(stmt)).all():
        found[variant_id] = max(int(units or 0), 0)
    return found


async def replace_options(
    session: AsyncSession, variant: Variant, rows: Iterable[tuple[str, str, str, str]]
) -> None:
    """Give ``variant`` these (name_key, value_key, name, value) option rows instead (and
    its product's ``product_option_value`` rows what they now are)."""
    await session.execute(delete(VariantOption).where(VariantOption.variant_id == variant.id))
    session.add_all(
        VariantOption(
            variant_id=variant.id,
            product_id=variant.product_id,
            name_key=name_key,
            value_key=value_key,
            name=name,
            value=value,
        )
        for name_key, value_key, name, value in rows
    )
    await option_values.refresh(session, [variant.product_id])


async def replace_prices(
    session: AsyncSession, variant_id: UUID, prices: Mapping[str, int]
) -> None:
    await session.execute(delete(VariantPrice).where(VariantPrice.variant_id == variant_id))
    session.add_all(
        VariantPrice(variant_id=variant_id, currency=currency, amount=amount)
        for currency, amount in prices.items()
    )


async def lowest_prices(session: AsyncSession, product_id: UUID) -> dict[str, int]:
    """The lowest price of the product's live variants in each currency they are sold in."""
    stmt = (
        select(VariantPrice.currency, func.min(VariantPrice.amount))
        .join(Variant, Variant.id == VariantPrice.variant_id)
        .where(Variant.product_id == product_id, Variant.deleted_at.is_(None))
        .group_by(VariantPrice.currency)
    )
    return {currency: int(amount) for currency, amount in (await session.execute(stmt)).all()}


async def replace_product_prices(
    session: AsyncSession, product_id: UUID, prices: Mapping[str, int]
) -> None:
    await session.execute(delete(ProductPrice).where(ProductPrice.product_id == product_id))
    session.add_all(
        ProductPrice(product_id=product_id, currency=currency, amount=amount)
        for currency, amount in prices.items()
    )


async def soft_delete(session: AsyncSession, variants: Sequence[Variant], when: datetime) -> None:
    """Mark ``variants`` deleted; their option rows go (filters and facets see live ones),
    and their products' ``product_option_value`` rows follow."""
    ids = [variant.id for variant in variants]
    if ids:
        await session.execute(delete(VariantOption).where(VariantOption.variant_id.in_(ids)))
    for variant in variants:
        variant.deleted_at = variant.updated_at = when
    await option_values.refresh(session, {variant.product_id for variant in variants})


async def replace_product_options(
    session: AsyncSession, product_id: UUID, options: Iterable[tuple[str, str, list[str]]]
) -> None:
    """Give the product these (name, name_key, values) options, in this order."""
    await session.execute(delete(ProductOption).where(ProductOption.product_id == product_id))
    await session.flush()  # the (product_id, name_key) unique key sees the old rows gone
    session.add_all(
        ProductOption(
            product_id=product_id, position=i, name=name, name_key=name_key, values=values
        )
        for i, (name, name_key, values) in enumerate(options)
    )
