"""Tax of one line (or of shipping), and the interface of a source of tax rates.

- The rates of a destination are those for its country with no region, plus those for its
  region; a line pays the ones of its ``tax_class``, each as a separate tax line (name,
  rate_bp). Shipping pays the ``standard`` class rates, like a line. No rate, no tax.
- **Tax-exclusive** prices (the amount is net): per line and rate,
  ``tax = round_half_even(net_after_discount * rate_bp, 10000)``.
- **Tax-inclusive** prices (the amount already holds the tax): per line,
  ``tax = round_half_even(gross_after_discount * B, 10000 + B)`` with ``B`` the sum of the
  line's rates, then split over the rates by largest remainder in proportion to ``rate_bp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from emporium.orders.pricing.model import TaxRate
from emporium.orders.pricing.money import allocate, round_half_even

__all__ = [
    "BASIS_POINTS",
    "SHIPPING_TAX_CLASS",
    "TaxProvider",
    "exclusive_tax",
    "inclusive_tax",
    "rates_for_class",
]

BASIS_POINTS = 10_000
#: Shipping is taxed like a line of this class.
SHIPPING_TAX_CLASS = "standard"


class TaxProvider(Protocol):
    """Where the tax rates of a destination come from (the table, or an external service)."""

    async def rates_for(self, country: str, region: str | None) -> Sequence[TaxRate]:
        """The rates with region None plus those of ``region``, every tax class."""
        ...


def rates_for_class(tax_rates: Sequence[TaxRate], tax_class: str) -> list[TaxRate]:
    """The rates a line of ``tax_class`` pays: the country's first, then its region's."""
    matching = [rate for rate in tax_rates if rate.tax_class == tax_class]
    return sorted(matching, key=lambda rate: rate.region is not None)


def exclusive_tax(net: int, rates: Sequence[TaxRate]) -> list[int]:
    """The tax of each rate on a net amount (half-even per rate)."""
    return [round_half_even(net * rate.rate_bp, BASIS_POINTS) for rate in rates]


def inclusive_tax(gross: int, rates: Sequence[TaxRate]) -> list[int]:
    """The tax each rate holds in a gross amount: one rounding, split by largest remainder."""
    combined = sum(rate.rate_bp for rate in rates)
    included = round_half_even(gross * combined, BASIS_POINTS + combined)
    return allocate(included, [rate.rate_bp for rate in rates])
