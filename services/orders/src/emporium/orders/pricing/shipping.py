"""Which shipping rates a cart is offered.

- A **zone** covers the countries in its ``countries``; the options come from every zone that
  covers the address's country. When no zone covers it there are no options and the order
  ships without a shipping charge; when one does, a method must be chosen before the order is
  placed.
- A **rate applies** when its currency is the cart's, the cart's subtotal as entered (before
  any discount) is at least its ``min_subtotal`` (if set) and the cart's weight is at most its
  ``max_weight_grams`` (if set).
- Within one zone, rates sharing a ``name`` are one method (weight bands, "free over X"): only
  the cheapest applicable one of each name is offered; on a tie, the one with the smallest
  ``max_weight_grams`` (no limit counts as the largest), then the earlier one.
- Options keep the order of the zones, and within a zone the order in which each method's
  name first appears among its rates.
"""

from __future__ import annotations

from collections.abc import Sequence

from emporium.orders.pricing.model import Line, Rate, Zone

__all__ = ["cart_weight", "covers", "entered_subtotal", "rate_applies", "shipping_options"]


def covers(zones: Sequence[Zone], country: str) -> bool:
    """Whether some zone ships to ``country`` (then a method must be chosen)."""
    return any(country in zone.countries for zone in zones)


def entered_subtotal(lines: Sequence[Line]) -> int:
    """The cart's subtotal as entered, before any discount: what thresholds compare with."""
    return sum(line.entered for line in lines)


def cart_weight(lines: Sequence[Line]) -> int:
    """The cart's weight in grams."""
    return sum(line.weight_grams * line.quantity for line in lines)


def rate_applies(rate: Rate, *, currency: str, subtotal: int, weight_grams: int) -> bool:
    """Whether ``rate`` can ship a cart of this currency, entered subtotal and weight."""
    return (
        rate.currency == currency
        and (rate.min_subtotal is None or subtotal >= rate.min_subtotal)
        and (rate.max_weight_grams is None or weight_grams <= rate.max_weight_grams)
    )


def shipping_options(
    zones: Sequence[Zone], *, country: str, currency: str, subtotal: int, weight_grams: int
) -> list[Rate]:
    """The rates offered to a cart: per zone covering ``country``, the best of each method."""
    offered: list[Rate] = []
    for zone in zones:
        if country not in zone.countries:
            continue
        best: dict[str, Rate] = {}
        for rate in zone.rates:
            if not rate_applies(
                rate, currency=currency, subtotal=subtotal, weight_grams=weight_grams
            ):
                continue
            current = best.get(rate.name)
            if current is None or _preference(rate) < _preference(current):
                best[rate.name] = rate
        # Keep the order in which each name first appears among the zone's rates.
        names = dict.fromkeys(rate.name for rate in zone.rates)
        offered.extend(best[name] for name in names if name in best)
    return offered


def _preference(rate: Rate) -> tuple[int, float]:
    limit = float("inf") if rate.max_weight_grams is None else rate.max_weight_grams
    return (rate.amount, limit)
