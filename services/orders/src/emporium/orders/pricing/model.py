"""What pricing reads (lines, rates, zones, tax rates, promotions) and what it answers.

All amounts are integers in minor units of the cart's currency. The answer, a
:class:`Breakdown`, keeps one convention (see ``breakdown``): in tax-exclusive currencies its
figures are the entered (net) prices; in tax-inclusive ones it shows net figures and the tax
included, while each :class:`LineTotals` keeps the entered amount of its line. Either way::

    subtotal - sum(discount.amount) + shipping.amount + tax == total
    sum(line.total) + gross shipping == total

and no amount is negative. ``Breakdown.to_json`` / ``from_json`` is the form stored on an order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

__all__ = [
    "Breakdown",
    "Discount",
    "Line",
    "LineTotals",
    "Promotion",
    "Rate",
    "Refusal",
    "RefusalReason",
    "ShippingCharge",
    "TaxLine",
    "TaxRate",
    "Zone",
]

RefusalReason = Literal[
    "unknown", "expired", "not_started", "used_up", "not_eligible", "min_subtotal"
]


@dataclass(frozen=True, slots=True)
class Line:
    """One cart line as pricing sees it (``unit_amount`` as entered, in minor units)."""

    product_id: UUID
    category_id: UUID | None
    unit_amount: int
    quantity: int
    weight_grams: int = 0
    tax_class: str = "standard"

    @property
    def entered(self) -> int:
        """The line's amount as entered: unit amount times quantity."""
        return self.unit_amount * self.quantity


@dataclass(frozen=True, slots=True)
class Rate:
    """A shipping rate of a zone; rates of one zone sharing a ``name`` are one method."""

    id: UUID
    zone_id: UUID
    name: str
    amount: int
    currency: str
    min_subtotal: int | None
    max_weight_grams: int | None
    estimated_days: int | None


@dataclass(frozen=True, slots=True)
class Zone:
    """Countries (ISO alpha-2) that share shipping rates."""

    id: UUID
    name: str
    countries: frozenset[str]
    rates: tuple[Rate, ...]


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax rate in basis points (1900 = 19 %) for a country, or one of its regions."""

    country: str
    region: str | None
    tax_class: str
    rate_bp: int
    name: str


@dataclass(frozen=True, slots=True)
class Promotion:
    """A percentage (whole percent) or fixed (minor units of ``currency``) discount.

    ``code`` None: automatic. ``categories`` and ``products`` both empty: every line.
    """

    id: UUID
    name: str
    kind: Literal["percentage", "fixed"]
    value: int
    currency: str | None
    code: str | None
    categories: frozenset[UUID]
    products: frozenset[UUID]
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    min_subtotal: int | None
    used_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a code does not apply to a cart (the ``reason`` words of the API)."""

    reason: RefusalReason
    detail: str


@dataclass(frozen=True, slots=True)
class Discount:
    """What one promotion took off, in the breakdown's convention."""

    promotion_id: UUID
    code: str | None
    name: str
    amount: int


@dataclass(frozen=True, slots=True)
class ShippingCharge:
    """The chosen rate; ``amount`` in the breakdown's convention (net when inclusive)."""

    rate_id: UUID
    name: str
    amount: int


@dataclass(frozen=True, slots=True)
class TaxLine:
    """The tax of one rate (name, rate_bp) over all lines and shipping."""

    name: str
    rate_bp: int
    amount: int


@dataclass(frozen=True, slots=True)
class LineTotals:
    """One line's share: ``entered`` and ``discount`` in entered prices, ``total`` paid."""

    product_id: UUID
    entered: int
    discount: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True)
class Breakdown:
    """The priced cart or order (see the module docstring for the identities it keeps)."""

    currency: str
    tax_inclusive: bool
    subtotal: int
    discounts: tuple[Discount, ...]
    shipping: ShippingCharge | None
    tax: int
    tax_lines: tuple[TaxLine, ...]
    total: int
    lines: tuple[LineTotals, ...]

    @property
    def discount(self) -> int:
        """All discounts together."""
        return sum(discount.amount for discount in self.discounts)

    @property
    def shipping_gross(self) -> int:
        """What the shopper pays for shipping, tax included."""
        return self.total - sum(line.total for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        """The breakdown as plain JSON values (UUIDs as strings), as stored on an order."""
        return {
            "currency": self.currency,
            "tax_inclusive": self.tax_inclusive,
            "subtotal": self.subtotal,
            "discounts": [
                {
                    "promotion_id": str(d.promotion_id),
                    "code": d.code,
                    "name": d.name,
                    "amount": d.amount,
                }
                for d in self.discounts
            ],
            "shipping": None
            if self.shipping is None
            else {
                "rate_id": str(self.shipping.rate_id),
                "name": self.shipping.name,
                "amount": self.shipping.amount,
            },
            "tax": self.tax,
            "tax_lines": [
                {"name": t.name, "rate_bp": t.rate_bp, "amount": t.amount} for t in self.tax_lines
            ],
            "total": self.total,
            "lines": [
                {
                    "product_id": str(line.product_id),
                    "entered": line.entered,
                    "discount": line.discount,
                    "tax": line.tax,
                    "total": line.total,
                }
                for line in self.lines
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Breakdown:
        """The breakdown ``to_json`` gave (fields it does not know are ignored)."""
        shipping = data.get("shipping")
        return cls(
            currency=str(data["currency"]),
            tax_inclusive=bool(data["tax_inclusive"]),
            subtotal=int(data["subtotal"]),
            discounts=tuple(
                Discount(
                    promotion_id=UUID(str(d["promotion_id"])),
                    code=None if d.get("code") is None else str(d["code"]),
                    name=str(d["name"]),
                    amount=int(d["amount"]),
                )
                for d in data.get("discounts", ())
            ),
            shipping=None
            if shipping is None
            else ShippingCharge(
                rate_id=UUID(str(shipping["rate_id"])),
                name=str(shipping["name"]),
                amount=int(shipping["amount"]),
            ),
            tax=int(data["tax"]),
            tax_lines=tuple(
                TaxLine(name=str(t["name"]), rate_bp=int(t["rate_bp"]), amount=int(t["amount"]))
                for t in data.get("tax_lines", ())
            ),
            total=int(data["total"]),
            lines=tuple(
                LineTotals(
                    product_id=UUID(str(line["product_id"])),
                    entered=int(line["entered"]),
                    discount=int(line["discount"]),
                    tax=int(line["tax"]),
                    total=int(line["total"]),
                )
                for line in data.get("lines", ())
            ),
        )
