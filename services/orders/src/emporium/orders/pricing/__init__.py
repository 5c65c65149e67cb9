"""Checkout pricing: plain rules (money, shipping, tax, promotions), no I/O.

``price`` turns a cart (lines, currency, chosen rate, the destination's tax rates, automatic
promotions and at most one code) into a :class:`Breakdown`; ``shipping_options`` and
``code_refusal`` tell the cart what to offer and why a code is refused. The rules are stated
in the docstrings of ``money`` (rounding, splitting), ``shipping``, ``tax``, ``promotions``
(stacking) and ``breakdown`` (the inclusive/exclusive convention).
"""

from __future__ import annotations

from emporium.orders.pricing.breakdown import price
from emporium.orders.pricing.model import (
    Breakdown,
    Discount,
    Line,
    LineTotals,
    Promotion,
    Rate,
    Refusal,
    RefusalReason,
    ShippingCharge,
    TaxLine,
    TaxRate,
    Zone,
)
from emporium.orders.pricing.money import allocate, round_half_even
from emporium.orders.pricing.promotions import (
    automatic_applies,
    code_refusal,
    eligible,
    stacking_order,
)
from emporium.orders.pricing.shipping import (
    cart_weight,
    covers,
    entered_subtotal,
    rate_applies,
    shipping_options,
)
from emporium.orders.pricing.tax import TaxProvider, rates_for_class

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
    "TaxProvider",
    "TaxRate",
    "Zone",
    "allocate",
    "automatic_applies",
    "cart_weight",
    "code_refusal",
    "covers",
    "eligible",
    "entered_subtotal",
    "price",
    "rate_applies",
    "rates_for_class",
    "round_half_even",
    "shipping_options",
    "stacking_order",
]
