"""A cart's lines at current prices, and the lines pricing sees of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders import pricing
from emporium.orders.cart import repository
from emporium.orders.models import CartItem, ProductCopy
from emporium.orders.products.repository import products_by_id

__all__ = ["DEFAULT_CURRENCY", "PricedLine", "cart_currency", "priced_lines", "pricing_lines"]

#: The currency of a cart with nothing available in it.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True)
class PricedLine:
    """A cart item with the product as orders knows it now (None: never heard of it)."""

    item: CartItem
    product: ProductCopy | None

    @property
    def available(self) -> bool:
        return self.product is not None and not self.product.deleted


async def priced_lines(session: AsyncSession, customer_id: UUID) -> list[PricedLine]:
    cart_items = await repository.items(session, customer_id)
    products = await products_by_id(session, (i.product_id for i in cart_items))
    return [PricedLine(item, products.get(item.product_id)) for item in cart_items]


def cart_currency(lines: Sequence[PricedLine]) -> str:
    """The currency of the cart's first available line (checkout refuses a mixed cart)."""
    for line in lines:
        if line.available and line.product is not None:
            return line.product.currency
    return DEFAULT_CURRENCY


def pricing_lines(lines: Sequence[PricedLine], currency: str) -> list[pricing.Line]:
    """The available lines in ``currency`` as pricing sees them, in cart order."""
    return [
        pricing.Line(
            product_id=line.product.id,
            category_id=line.product.category_id,
            unit_amount=line.product.price_amount,
            quantity=line.item.quantity,
            # A copy not yet flushed has no column defaults: none means the defaults.
            weight_grams=line.product.weight_grams or 0,
            tax_class=line.product.tax_class or "standard",
        )
        for line in lines
        if line.available and line.product is not None and line.product.currency == currency
    ]
