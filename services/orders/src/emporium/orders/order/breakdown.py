"""The price breakdown as the API shows it, on the cart and on the order.

Every amount is ``Money`` in the cart's (order's) currency, and
``subtotal - sum(discounts) + shipping + tax == total`` to the minor unit; in tax-inclusive
currencies the figures are net of tax (see ``emporium.orders.pricing.breakdown``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from emporium.orders import pricing
from emporium.orders.common import Money

__all__ = [
    "DiscountOut",
    "PricedOut",
    "ShippingOut",
    "TaxLineOut",
    "TaxOut",
    "breakdown_fields",
    "unpriced",
]


class DiscountOut(BaseModel):
    code: str | None = Field(description="The code; null for an automatic promotion.")
    name: str
    amount: Money


class ShippingOut(BaseModel):
    id: UUID = Field(description="The shipping rate chosen.")
    name: str
    amount: Money = Field(description="Net of tax in tax-inclusive currencies.")


class TaxLineOut(BaseModel):
    name: str
    rate_bp: int = Field(description="Basis points: 1900 is 19 %.")
    amount: Money


class TaxOut(BaseModel):
    amount: Money
    lines: list[TaxLineOut]


class PricedOut(BaseModel):
    """The breakdown's fields, shared by the cart and the order."""

    subtotal: Money = Field(description="The lines before discounts (net when tax-inclusive).")
    discounts: list[DiscountOut]
    shipping: ShippingOut | None = Field(description="null: nothing chosen, or no charge.")
    tax: TaxOut
    total: Money = Field(
        description="What the shopper pays: subtotal - discounts + shipping + tax."
    )


def breakdown_fields(breakdown: pricing.Breakdown) -> dict[str, Any]:
    """The ``PricedOut`` fields of ``breakdown``."""

    def money(amount: int) -> Money:
        return Money(amount=amount, currency=breakdown.currency)

    shipping = breakdown.shipping
    return {
        "subtotal": money(breakdown.subtotal),
        "discounts": [
            DiscountOut(code=d.code, name=d.name, amount=money(d.amount))
            for d in breakdown.discounts
        ],
        "shipping": None
        if shipping is None
        else ShippingOut(id=shipping.rate_id, name=shipping.name, amount=money(shipping.amount)),
        "tax": TaxOut(
            amount=money(breakdown.tax),
            lines=[
                TaxLineOut(name=t.name, rate_bp=t.rate_bp, amount=money(t.amount))
                for t in breakdown.tax_lines
            ],
        ),
        "total": money(breakdown.total),
    }


def unpriced(total: int, currency: str) -> pricing.Breakdown:
    """The breakdown of an order placed before checkout pricing: its total, nothing else."""
    return pricing.Breakdown(
        currency=currency,
        tax_inclusive=False,
        subtotal=total,
        discounts=(),
        shipping=None,
        tax=0,
        tax_lines=(),
        total=total,
        lines=(),
    )
