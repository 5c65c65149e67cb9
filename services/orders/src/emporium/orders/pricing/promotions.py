"""When a promotion applies, why a code is refused, and how discounts stack.

- A promotion is **valid** when ``starts_at <= now < ends_at`` (either may be null).
- It is **eligible** on a line whose product is in ``products`` or whose category is in
  ``categories``; with both empty, on every line. It needs at least one eligible line.
- ``fixed`` promotions (``value`` in minor units of ``currency``) apply only to carts in that
  currency; ``percentage`` ones (``value`` a whole percent, 1 to 100) to any currency.
- ``min_subtotal`` compares with the cart's subtotal as entered, before any discount.
- A promotion whose ``used_count`` reached its ``usage_limit`` no longer applies; a code also
  stops applying for a customer who used it ``per_customer_limit`` times.
- **Stacking**, in this order: every applicable automatic promotion first, percentages before
  fixed amounts, then by creation time; then at most one code. Each applies to what the earlier
  ones left on its eligible lines, never below zero:
  - a percentage takes ``round_half_even(left * value, 100)`` off each eligible line;
  - a fixed amount takes ``min(value, left on the eligible lines)``, spread over those lines by
    largest remainder in proportion to what is left on each.
- Discounts are computed on the entered prices of the lines and never touch shipping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from emporium.orders.pricing.model import Line, Promotion, Refusal
from emporium.orders.pricing.money import allocate, round_half_even
from emporium.orders.pricing.shipping import entered_subtotal

__all__ = [
    "automatic_applies",
    "code_refusal",
    "eligible",
    "line_discounts",
    "stacking_order",
]


def eligible(promotion: Promotion, line: Line) -> bool:
    """Whether ``promotion`` discounts ``line`` (no categories and no products: every line)."""
    if not promotion.categories and not promotion.products:
        return True
    return line.product_id in promotion.products or (
        line.category_id is not None and line.category_id in promotion.categories
    )


def code_refusal(
    promotion: Promotion | None,
    lines: Sequence[Line],
    *,
    currency: str,
    now: datetime,
    customer_uses: int,
) -> Refusal | None:
    """Why the code (``promotion``, None when no promotion has it) does not apply, or None.

    ``customer_uses``: how many of this customer's redemptions of it are not released.
    """
    if promotion is None:
        return Refusal("unknown", "no promotion has this code")
    refusal = _refusal(promotion, lines, currency=currency, now=now)
    if refusal is not None:
        return refusal
    limit = promotion.per_customer_limit
    if limit is not None and customer_uses >= limit:
        times = "once" if limit == 1 else f"{limit} times"
        return Refusal(
            "used_up", f"{_label(promotion)} can be used {times} per customer, and you have"
        )
    return None


def automatic_applies(
    promotion: Promotion, lines: Sequence[Line], *, currency: str, now: datetime
) -> bool:
    """Whether ``promotion`` takes part in pricing this cart (window, currency, lines, limits)."""
    return _refusal(promotion, lines, currency=currency, now=now) is None


def stacking_order(automatic: Sequence[Promotion], code: Promotion | None) -> list[Promotion]:
    """The promotions in the order they apply: automatic (percentages, fixed), then the code."""
    ordered = sorted(
        automatic, key=lambda promotion: (promotion.kind != "percentage", promotion.created_at)
    )
    return ordered if code is None else [*ordered, code]


def line_discounts(promotion: Promotion, lines: Sequence[Line], left: Sequence[int]) -> list[int]:
    """What ``promotion`` takes off each line, given what is ``left`` on each (entered prices).

    Each part is between zero and what is left on its line.
    """
    weights = [
        amount if eligible(promotion, line) else 0 for line, amount in zip(lines, left, strict=True)
    ]
    if promotion.kind == "percentage":
        percent = min(max(promotion.value, 0), 100)
        return [round_half_even(amount * percent, 100) for amount in weights]
    return allocate(min(max(promotion.value, 0), sum(weights)), weights)


def _refusal(
    promotion: Promotion, lines: Sequence[Line], *, currency: str, now: datetime
) -> Refusal | None:
    # Everything but the per-customer limit, which only a code checked for a shopper has.
    label = _label(promotion)
    if promotion.starts_at is not None and now < promotion.starts_at:
        return Refusal("not_started", f"{label} is valid from {promotion.starts_at.isoformat()}")
    if promotion.ends_at is not None and now >= promotion.ends_at:
        return Refusal("expired", f"{label} ended at {promotion.ends_at.isoformat()}")
    if promotion.usage_limit is not None and promotion.used_count >= promotion.usage_limit:
        return Refusal(
            "used_up", f"{label} has been used {promotion.usage_limit} times, all it may be"
        )
    if promotion.kind == "fixed" and promotion.currency != currency:
        return Refusal(
            "not_eligible", f"{label} is for carts in {promotion.currency}, not {currency}"
        )
    if not any(eligible(promotion, line) for line in lines):
        return Refusal("not_eligible", f"nothing in the cart is eligible for {label}")
    if promotion.min_subtotal is not None and entered_subtotal(lines) < promotion.min_subtotal:
        return Refusal(
            "min_subtotal",
            f"{label} needs a subtotal of at least {promotion.min_subtotal}"
            f" (minor units of {currency})",
        )
    return None


def _label(promotion: Promotion) -> str:
    return f"the code {promotion.code}" if promotion.code else f"the promotion {promotion.name!r}"
