"""``price``: a cart's lines, shipping, tax and promotions in one breakdown.

Order of work: the promotions that apply take their discounts off the lines' entered prices
(see ``promotions`` for the stacking), then each line and the shipping pay tax on what is left
(see ``tax``), each rounded once, half-even, per line and rate.

Convention of the breakdown:

- **Tax-exclusive** currencies: the figures are the entered (net) prices. ``subtotal`` is the
  lines' entered sum, each discount what it took off, ``shipping`` the rate's amount, ``tax``
  the tax added, ``total`` the sum of those.
- **Tax-inclusive** currencies (entered prices already hold the tax): the figures are net of
  tax. ``subtotal`` is the sum of the lines' net amounts before discount, each discount the net
  before it minus the net after it on its lines, ``shipping`` the rate's net amount, ``tax`` the
  tax included, and ``total`` what the shopper pays: the lines' gross after discount plus the
  rate's (gross) amount.
- Either way ``subtotal - sum(discounts) + shipping + tax == total``, each line's ``total`` is
  what it costs the shopper tax included, ``sum(line totals) + gross shipping == total``, and no
  figure is negative. A line's ``entered`` and ``discount`` are always in entered prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from emporium.orders.pricing.model import (
    Breakdown,
    Discount,
    Line,
    LineTotals,
    Promotion,
    Rate,
    ShippingCharge,
    TaxLine,
    TaxRate,
)
from emporium.orders.pricing.promotions import automatic_applies, line_discounts, stacking_order
from emporium.orders.pricing.tax import (
    SHIPPING_TAX_CLASS,
    exclusive_tax,
    inclusive_tax,
    rates_for_class,
)

__all__ = ["price"]


def price(
    lines: Sequence[Line],
    *,
    currency: str,
    tax_inclusive: bool,
    shipping: Rate | None,
    tax_rates: Sequence[TaxRate],
    automatic: Sequence[Promotion],
    code: Promotion | None,
    now: datetime,
) -> Breakdown:
    """Price a cart. Promotions that do not apply are skipped; ``tax_rates`` are the
    destination's (``TaxProvider.rates_for``), picked per line by tax class.

    Raises ``ValueError`` for a negative amount, quantity, weight or rate, or a shipping rate
    in another currency: the caller offers only rates of the cart's currency.
    """
    _check(lines, shipping=shipping, currency=currency, tax_rates=tax_rates)
    line_rates = [rates_for_class(tax_rates, line.tax_class) for line in lines]

    def net(index: int, amount: int) -> int:
        # What the breakdown shows of a line amount: net of included tax when inclusive.
        if not tax_inclusive:
            return amount
        return amount - sum(inclusive_tax(amount, line_rates[index]))

    left = [line.entered for line in lines]
    discounts: list[Discount] = []
    seen: set[object] = set()
    for promotion in stacking_order(automatic, code):
        if promotion.id in seen or not automatic_applies(
            promotion, lines, currency=currency, now=now
        ):
            continue
        seen.add(promotion.id)
        parts = line_discounts(promotion, lines, left)
        after = [amount - part for amount, part in zip(left, parts, strict=True)]
        amount = sum(net(i, left[i]) - net(i, after[i]) for i in range(len(lines)))
        discounts.append(Discount(promotion.id, promotion.code, promotion.name, amount))
        left = after

    taxes = _TaxLines()
    totals: list[LineTotals] = []
    for index, line in enumerate(lines):
        rates = line_rates[index]
        paid = left[index]
        line_taxes = inclusive_tax(paid, rates) if tax_inclusive else exclusive_tax(paid, rates)
        taxes.add(rates, line_taxes)
        tax = sum(line_taxes)
        totals.append(
            LineTotals(
                product_id=line.product_id,
                entered=line.entered,
                discount=line.entered - paid,
                tax=tax,
                total=paid if tax_inclusive else paid + tax,
            )
        )

    charge: ShippingCharge | None = None
    shipping_gross = 0
    if shipping is not None:
        rates = rates_for_class(tax_rates, SHIPPING_TAX_CLASS)
        if tax_inclusive:
            shipping_taxes = inclusive_tax(shipping.amount, rates)
            shown, shipping_gross = shipping.amount - sum(shipping_taxes), shipping.amount
        else:
            shipping_taxes = exclusive_tax(shipping.amount, rates)
            shown, shipping_gross = shipping.amount, shipping.amount + sum(shipping_taxes)
        taxes.add(rates, shipping_taxes)
        charge = ShippingCharge(rate_id=shipping.id, name=shipping.name, amount=shown)

    return Breakdown(
        currency=currency,
        tax_inclusive=tax_inclusive,
        subtotal=sum(net(i, line.entered) for i, line in enumerate(lines)),
        discounts=tuple(discounts),
        shipping=charge,
        tax=taxes.total(),
        tax_lines=taxes.lines(),
        total=sum(line.total for line in totals) + shipping_gross,
        lines=tuple(totals),
    )


class _TaxLines:
    """Tax summed per (name, rate_bp), in the order the rates first appear."""

    def __init__(self) -> None:
        self._amounts: dict[tuple[str, int], int] = {}

    def add(self, rates: Sequence[TaxRate], amounts: Sequence[int]) -> None:
        for rate, amount in zip(rates, amounts, strict=True):
            key = (rate.name, rate.rate_bp)
            self._amounts[key] = self._amounts.get(key, 0) + amount

    def total(self) -> int:
        return sum(self._amounts.values())

    def lines(self) -> tuple[TaxLine, ...]:
        return tuple(
            TaxLine(name=name, rate_bp=rate_bp, amount=amount)
            for (name, rate_bp), amount in self._amounts.items()
        )


def _check(
    lines: Sequence[Line], *, shipping: Rate | None, currency: str, tax_rates: Sequence[TaxRate]
) -> None:
    for line in lines:
        if line.unit_amount < 0 or line.quantity < 0 or line.weight_grams < 0:
            raise ValueError(f"line of product {line.product_id} has a negative figure: {line}")
    if shipping is not None:
        if shipping.currency != currency:
            raise ValueError(
                f"shipping rate {shipping.id} is in {shipping.currency}, the cart in {currency}"
            )
        if shipping.amount < 0:
            raise ValueError(f"shipping rate {shipping.id} has a negative amount")
    for rate in tax_rates:
        if rate.rate_bp < 0:
            raise ValueError(f"tax rate {rate.name!r} has a negative rate_bp ({rate.rate_bp})")
