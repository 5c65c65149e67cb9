"""The product events of a change: the whole state (``ProductUpdated`` v3: the v2 fields
plus the options and every live variant with its prices per currency) and, if the lowest
base price moved, the price change (v2), both with the product's new ``version``.

Every change of a product or of one of its variants goes through ``publish_update`` in its
transaction, with the product row locked, so versions never repeat.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.invalidation import LISTING, mark_stale, product_family
from emporium.catalog.models import Product, ProductOption, Variant, VariantOption, VariantPrice
from emporium.catalog.outbox import OUTBOX
from emporium.contracts.catalog import (
    OptionState,
    ProductCreatedV3,
    ProductPriceChangedV2,
    ProductUpdatedV3,
    VariantState,
)
from emporium.contracts.catalog import VariantPrice as PriceState
from emporium.kit.outbox import utcnow

__all__ = ["created_event", "product_state", "publish_update", "variants_state"]


def product_state(product: Product) -> dict[str, Any]:
    """The product as its created and updated events carry it: all orders prices it by
    (``price_amount``/``currency``: the lowest live variant price in the base currency)."""
    return {
        "product_id": product.id,
        "product_version": product.version,
        "sku": product.sku,
        "name": product.name,
        "price_amount": product.price_amount,
        "currency": product.currency,
        "category_id": product.category_id,
        "weight_grams": product.weight_grams,
        "tax_class": product.tax_class,
    }


async def variants_state(
    session: AsyncSession, product: Product
) -> tuple[list[OptionState], list[VariantState]]:
    """The product's options and live variants (in their positions) as the v3 events carry
    them: each variant's option values in the product's option order, its prices."""
    options = list(
        await session.scalars(
            select(ProductOption)
            .where(ProductOption.product_id == product.id)
            .order_by(ProductOption.position)
        )
    )
    variants = list(
        await session.scalars(
            select(Variant)
            .where(Variant.product_id == product.id, Variant.deleted_at.is_(None))
            .order_by(Variant.position, Variant.id)
        )
    )
    ids = [v.id for v in variants]
    values: dict[object, dict[str, str]] = {}
    prices: dict[object, list[PriceState]] = {}
    if ids:
        order = {o.name_key: o.position for o in options}
        rows = await session.scalars(select(VariantOption).where(VariantOption.variant_id.in_(ids)))
        for row in sorted(rows, key=lambda r: order.get(r.name_key, len(order))):
            values.setdefault(row.variant_id, {})[row.name] = row.value
        price_rows = await session.scalars(
            select(VariantPrice)
            .where(VariantPrice.variant_id.in_(ids))
            .order_by(VariantPrice.currency)
        )
        for price in price_rows:
            prices.setdefault(price.variant_id, []).append(
                PriceState(amount=price.amount, currency=price.currency)
            )
    return (
        [OptionState(name=o.name, values=list(o.values)) for o in options],
        [
            VariantState(
                variant_id=v.id,
                sku=v.sku,
                options=values.get(v.id, {}),
                prices=prices.get(v.id, []),
                weight_grams=v.weight_grams,
            )
            for v in variants
        ],
    )


async def created_event(session: AsyncSession, product: Product) -> ProductCreatedV3:
    """``ProductCreated`` v3 of ``product`` (its variants flushed: call after
    ``create_default_variant``)."""
    options, variants = await variants_state(session, product)
    return ProductCreatedV3(**product_state(product), options=options, variants=variants)


async def publish_update(
    session: AsyncSession, product: Product, old_price: tuple[int, str]
) -> None:
    """Bump the version and publish ``ProductUpdated`` (and ``ProductPriceChanged`` if the
    price differs from ``old_price``); the product's cache entries go stale."""
    product.updated_at = utcnow()
    product.version += 1
    await session.flush()
    options, variants = await variants_state(session, product)
    await OUTBOX.add(
        session,
        ProductUpdatedV3(**product_state(product), options=options, variants=variants),
        key=product.id,
    )
    old_amount, old_currency = old_price
    if (old_amount, old_currency) != (product.price_amount, product.currency):
        await OUTBOX.add(
            session,
            ProductPriceChangedV2(
                product_id=product.id,
                product_version=product.version,
                old_amount=old_amount,
                new_amount=product.price_amount,
                currency=product.currency,
            ),
            key=product.id,
        )
    mark_stale(session, LISTING, product_family(product.id))
