"""The product events of a change: the whole state (v2) and, if the lowest base price
moved, the price change, both with the product's new ``version``.

Every change of a product or of one of its variants goes through ``publish_update`` in its
transaction, with the product row locked, so versions never repeat.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.invalidation import LISTING, mark_stale, product_family
from emporium.catalog.models import Product
from emporium.catalog.outbox import OUTBOX
from emporium.contracts.catalog import ProductPriceChangedV2, ProductUpdatedV2
from emporium.kit.outbox import utcnow

__all__ = ["product_state", "publish_update"]


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


async def publish_update(
    session: AsyncSession, product: Product, old_price: tuple[int, str]
) -> None:
    """Bump the version and publish ``ProductUpdated`` (and ``ProductPriceChanged`` if the
    price differs from ``old_price``); the product's cache entries go stale."""
    product.updated_at = utcnow()
    product.version += 1
    await session.flush()
    await OUTBOX.add(session, ProductUpdatedV2(**product_state(product)), key=product.id)
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
