"""A cart's lines at current prices in the cart's currency, and the lines pricing sees.

A cart line is one variant (a product without options: its one variant, of the product's
id). Its price is the variant's price in the cart's currency; a variant without one is not
sold in it (shown, not priced, not orderable). The cart's currency is the one fixed by its
first item; a cart from before variants has none and takes its first available line's
product currency (the product's base price), as it always did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders import pricing
from emporium.orders.cart import repository
from emporium.orders.models import CartItem, ProductCopy, VariantCopy
from emporium.orders.products.repository import prices_of, products_by_id, variants_by_id

__all__ = [
    "DEFAULT_CURRENCY",
    "PricedLine",
    "cart_currency",
    "in_cart_order",
    "lines_of",
    "priced_lines",
    "pricing_lines",
]

#: The currency of a cart with nothing available in it.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True)
class PricedLine:
    """A cart item with its product and variant as orders knows them now (None: never heard
    of it). Without a ``variant`` the line is the product's one variant at its price."""

    item: CartItem
    product: ProductCopy | None
    variant: VariantCopy | None = None
    #: The variant's prices by currency (used with ``variant``).
    prices: Mapping[str, int] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """Still sold (in some currency): neither the product nor the variant deleted."""
        if self.product is None or self.product.deleted:
            return False
        return self.variant is None or not self.variant.deleted

    def unit_amount(self, currency: str) -> int | None:
        """The current price in ``currency``; None: not sold in it."""
        if self.product is None:
            return None
        if self.variant is None:
            return self.product.price_amount if self.product.currency == currency else None
        return self.prices.get(currency)

    def sellable(self, currency: str) -> bool:
        return self.available and self.unit_amount(currency) is not None

    @property
    def sku(self) -> str:
        if self.variant is not None:
            return self.variant.sku
        return self.product.sku if self.product is not None else ""

    @property
    def options(self) -> dict[str, str]:
        return dict(self.variant.options or {}) if self.variant is not None else {}

    @property
    def weight_grams(self) -> int:
        # A copy not yet flushed has no column defaults: none means the defaults.
        if self.variant is not None:
            return self.variant.weight_grams or 0
        return (self.product.weight_grams or 0) if self.product is not None else 0


async def priced_lines(session: AsyncSession, customer_id: UUID) -> list[PricedLine]:
    """The customer's cart lines: the items with their variants, products and prices in one
    statement (a round trip each cost every view and checkout three more)."""
    rows = await repository.items_with_products(session, customer_id)
    return [
        PricedLine(item, product, variant, prices if variant else {})
        for item, variant, product, prices in rows
    ]


async def lines_of(session: AsyncSession, cart_items: Sequence[CartItem]) -> list[PricedLine]:
    """``cart_items`` (in their order) with their variants, products and prices as stored."""
    variants = await variants_by_id(session, (i.product_id for i in cart_items))
    product_ids = [
        variants[i.product_id].product_id if i.product_id in variants else i.product_id
        for i in cart_items
    ]
    products = await products_by_id(session, product_ids)
    prices = await prices_of(session, variants)
    out: list[PricedLine] = []
    for item in cart_items:
        variant = variants.get(item.product_id)
        product_id = variant.product_id if variant is not None else item.product_id
        out.append(
            PricedLine(
                item,
                products.get(product_id),
                variant,
                prices.get(item.product_id, {}) if variant is not None else {},
            )
        )
    return out


def in_cart_order(lines: Sequence[PricedLine]) -> list[PricedLine]:
    """``lines`` in the order ``priced_lines`` reads them: by when added, then by id."""
    return sorted(lines, key=lambda line: (line.item.added_at, line.item.product_id))


def cart_currency(lines: Sequence[PricedLine], fixed: str | None = None) -> str:
    """The cart's currency: ``fixed`` (by its first item), else that of its first available
    line's product (carts from before variants; checkout refuses a mixed cart)."""
    if fixed is not None:
        return fixed
    for line in lines:
        if line.available and line.product is not None:
            return line.product.currency
    return DEFAULT_CURRENCY


def pricing_lines(lines: Sequence[PricedLine], currency: str) -> list[pricing.Line]:
    """The available lines sold in ``currency`` as pricing sees them, in cart order
    (promotions and tax by the product's category and class, weight by the variant's)."""
    out: list[pricing.Line] = []
    for line in lines:
        amount = line.unit_amount(currency)
        if line.product is None or amount is None or not line.available:
            continue
        out.append(
            pricing.Line(
                product_id=line.product.id,
                category_id=line.product.category_id,
                unit_amount=amount,
                quantity=line.item.quantity,
                weight_grams=line.weight_grams,
                tax_class=line.product.tax_class or "standard",
            )
        )
    return out
