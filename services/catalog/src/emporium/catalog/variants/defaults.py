"""A product's default variant: the one every product has from its creation, with the
product's id, SKU, weight and price, no options, and a stock row at the ``default``
location (so ``PUT /cart/items/{product_id}`` and ``PUT /admin/products/{id}/stock`` keep
meaning what they meant before variants; see decision 1 of ``docs/variants-design.md``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import (
    DEFAULT_LOCATION,
    Product,
    ProductPrice,
    StockLevel,
    Variant,
    VariantPrice,
)

__all__ = ["NO_OPTIONS", "create_default_variant"]

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
    amount, currency = product.price_amount, product.currency
    session.add(VariantPrice(variant_id=product.id, currency=currency, amount=amount))
    session.add(ProductPrice(product_id=product.id, currency=currency, amount=amount))
    session.add(
        StockLevel(variant_id=product.id, location_code=DEFAULT_LOCATION, on_hand=0, reserved=0)
    )
    await session.flush()
