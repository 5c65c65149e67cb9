"""Reads and writes of the product read model (products, their variants, their prices)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders.models import ProductCopy, VariantCopy, VariantPriceCopy
from emporium.orders.products.variants import VariantFacts

__all__ = [
    "get_product",
    "get_variant",
    "get_variant_and_product",
    "prices_of",
    "product_has_options",
    "products_by_id",
    "replace_variants",
    "set_default_variant_price",
    "variants_by_id",
]


async def get_product(session: AsyncSession, product_id: UUID) -> ProductCopy | None:
    return await session.get(ProductCopy, product_id)


async def products_by_id(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, ProductCopy]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(ProductCopy).where(ProductCopy.id.in_(wanted)))
    return {row.id: row for row in rows}


async def get_variant(session: AsyncSession, variant_id: UUID) -> VariantCopy | None:
    return await session.get(VariantCopy, variant_id)


async def get_variant_and_product(
    session: AsyncSession, variant_id: UUID
) -> tuple[VariantCopy | None, ProductCopy | None]:
    """The variant of that id (None: none) and its product, else the product of that id (a
    product without a variant copy, or an id that names only the product): one statement
    for what ``get_variant`` then ``get_product`` read."""
    owner = select(VariantCopy.product_id).where(VariantCopy.id == variant_id).scalar_subquery()
    found = (
        await session.execute(
            select(VariantCopy, ProductCopy)
            .select_from(ProductCopy)
            .outerjoin(VariantCopy, VariantCopy.id == variant_id)
            .where(ProductCopy.id == func.coalesce(owner, variant_id))
        )
    ).first()
    if found is None:
        # No product: the variant alone (a copy whose product is gone) is no use to anyone.
        return None, None
    return found[0], found[1]


async def variants_by_id(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, VariantCopy]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(VariantCopy).where(VariantCopy.id.in_(wanted)))
    return {row.id: row for row in rows}


async def prices_of(
    session: AsyncSession, variant_ids: Iterable[UUID]
) -> dict[UUID, dict[str, int]]:
    """Each variant's prices by currency (a variant missing: no price at all)."""
    wanted = list(set(variant_ids))
    out: dict[UUID, dict[str, int]] = {}
    if not wanted:
        return out
    # Columns, not entities: nothing here is changed, so the ORM's loading is pure cost.
    rows = await session.execute(
        select(
            VariantPriceCopy.variant_id, VariantPriceCopy.currency, VariantPriceCopy.amount
        ).where(VariantPriceCopy.variant_id.in_(wanted))
    )
    for variant_id, currency, amount in rows:
        out.setdefault(variant_id, {})[currency] = amount
    return out


async def product_has_options(session: AsyncSession, product_id: UUID) -> bool:
    """Whether one of the product's live variants has option values (then a shopper must
    choose a variant: the product's id alone does not say which)."""
    rows = await session.scalars(
        select(VariantCopy.options).where(
            VariantCopy.product_id == product_id, VariantCopy.deleted.is_(False)
        )
    )
    return any(bool(options) for options in rows)


async def replace_variants(
    session: AsyncSession, product_id: UUID, facts: Sequence[VariantFacts], version: int | None
) -> None:
    """Make the product's variants exactly ``facts`` (the others are marked deleted: carts
    holding them show them unavailable), with exactly their prices."""
    held = {
        v.id: v
        for v in await session.scalars(
            select(VariantCopy).where(VariantCopy.product_id == product_id)
        )
    }
    live = {f.id for f in facts}
    for variant in held.values():
        if variant.id not in live:
            variant.deleted = True
            variant.version = version
    for fact in facts:
        found = held.get(fact.id)
        if found is None:
            # Perhaps moved from another product copy: the id is the row's key either way.
            found = await session.get(VariantCopy, fact.id)
        if found is None:
            found = VariantCopy(id=fact.id, product_id=product_id)
            session.add(found)
        variant = found
        variant.product_id = product_id
        variant.sku = fact.sku
        variant.options = dict(fact.options)
        variant.weight_grams = fact.weight_grams
        variant.deleted = False
        variant.version = version
    await session.flush()  # the variants before the prices that name them
    if live:
        await session.execute(
            delete(VariantPriceCopy).where(VariantPriceCopy.variant_id.in_(list(live)))
        )
    session.add_all(
        VariantPriceCopy(variant_id=fact.id, currency=currency, amount=amount)
        for fact in facts
        for currency, amount in fact.prices.items()
    )
    await session.flush()


async def set_default_variant_price(
    session: AsyncSession, product_id: UUID, amount: int, currency: str
) -> None:
    """A price change of a product without options is its one variant's, in that currency
    (with options it is only the product's lowest price: the v3 update carries the rest)."""
    variant = await session.get(VariantCopy, product_id)
    if variant is None or variant.options:
        return
    price = await session.get(VariantPriceCopy, (product_id, currency))
    if price is None:
        session.add(VariantPriceCopy(variant_id=product_id, currency=currency, amount=amount))
    else:
        price.amount = amount
    await session.flush()
