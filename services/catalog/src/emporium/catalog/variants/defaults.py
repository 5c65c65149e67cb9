"""A product's default variant: the one every product has from its creation, with the
product's id, SKU, weight and price, no options, and a stock row at the ``default``
location (so ``PUT /cart/items/{product_id}`` and ``PUT /admin/products/{id}/stock`` keep
meaning what they meant before variants; see decision 1 of ``docs/variants-design.md``).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import (
    DEFAULT_LOCATION,
    Product,
    ProductPrice,
    StockLevel,
    Variant,
    VariantPrice,
)

__all__ = ["create_default_variant", "sync_default_variant"]

#: The combination key of a variant of a product without options (no values).
NO_OPTIONS = "[]"


async def create_default_variant(session: AsyncSession, product: Product) -> None:
    """Add ``product``'s default variant, its price (also as the product's price in that
    currency) and its empty stock at ``default``, in the caller's transaction (call it
    right after the product is added)."""
    await session.flush()  # the product's id and timestamps (defaults applied on flush)
    session.add(
        Variant(
            id=product.id,
            product_id=product.id,
            sku=product.sku,
            weight_grams=product.weight_grams,
            position=0,
            combination_key=NO_OPTIONS,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )
    )
    await session.flush()  # the variant before the rows that name it (foreign keys)
    _add_prices(session, product)
    session.add(
        StockLevel(variant_id=product.id, location_code=DEFAULT_LOCATION, on_hand=0, reserved=0)
    )
    await session.flush()


async def sync_default_variant(session: AsyncSession, product: Product) -> None:
    """Carry a changed SKU, weight, price or deletion of a product *without options* to its
    default variant and prices (``PATCH``/``DELETE /admin/products/{id}``), in the caller's
    transaction; a product whose variant is missing gets one."""
    variant = await session.get(Variant, product.id)
    if variant is None:
        await create_default_variant(session, product)
        return
    variant.sku = product.sku
    variant.weight_grams = product.weight_grams
    variant.updated_at = product.updated_at
    variant.deleted_at = product.deleted_at
    # One price, the product's: a currency change must not leave the old one behind.
    await session.execute(delete(VariantPrice).where(VariantPrice.variant_id == product.id))
    await session.execute(delete(ProductPrice).where(ProductPrice.product_id == product.id))
    _add_prices(session, product)
    await session.flush()


def _add_prices(session: AsyncSession, product: Product) -> None:
    amount, currency = product.price_amount, product.currency
    session.add(VariantPrice(variant_id=product.id, currency=currency, amount=amount))
    session.add(ProductPrice(product_id=product.id, currency=currency, amount=amount))
