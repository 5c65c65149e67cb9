"""Whether a cart's choices still hold, and if not, why (pure: no I/O, no clock).

A cart keeps the shipping rate and the promotion code the shopper chose, but prices,
contents and the address change after the choice. Every view checks both again:

- the chosen **rate** holds while it is among the options offered for the cart as it is now
  (``pricing.shipping_options``); otherwise it is dropped and the notice says why: the rate
  was withdrawn, its zone does not ship to the address's country, it is in another currency,
  the subtotal is under its minimum, the cart is over its weight limit, or a cheaper rate of
  the same method now applies (the shopper chooses again: a price is never picked for them);
- the **code** holds while ``pricing.code_refusal`` finds nothing against it; otherwise it
  is dropped with the refusal's reason and detail (``expired``, ``min_subtotal``...).

A cart with nothing in it checks nothing: its choices wait for its next lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from emporium.orders import pricing

__all__ = ["SHIPPING_METHOD_UNAVAILABLE", "Notice", "code_notice", "rate_notice"]

#: The notice reason of a dropped shipping rate (a dropped code has its refusal's reason).
SHIPPING_METHOD_UNAVAILABLE = "shipping_method_unavailable"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the cart held that it dropped, and why (the cart's ``notices``)."""

    reason: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Notice:
        return cls(reason=str(data.get("reason", "")), detail=str(data.get("detail", "")))


def rate_notice(
    rate_id: UUID,
    rate: pricing.Rate | None,
    *,
    offered: Sequence[pricing.Rate],
    zones: Sequence[pricing.Zone],
    country: str | None,
    currency: str,
    subtotal: int,
    weight_grams: int,
) -> Notice | None:
    """None while the chosen rate ``rate_id`` (``rate``: as stored now, None if deleted) is
    offered; otherwise why it no longer is."""
    if any(option.id == rate_id for option in offered):
        return None

    def dropped(detail: str) -> Notice:
        return Notice(SHIPPING_METHOD_UNAVAILABLE, detail)

    if rate is None:
        return dropped("the shipping method chosen is no longer offered: choose another")
    name = f"shipping method {rate.name!r}"
    zone = next((zone for zone in zones if zone.id == rate.zone_id), None)
    if country is None:
        return dropped(f"the {name} needs a shipping address")
    if zone is None or country not in zone.countries:
        return dropped(f"the {name} does not ship to {country}")
    if rate.currency != currency:
        return dropped(f"the {name} is priced in {rate.currency}, the cart in {currency}")
    if rate.min_subtotal is not None and subtotal < rate.min_subtotal:
        return dropped(
            f"the {name} needs a subtotal of at least {rate.min_subtotal} (the cart's is "
            f"{subtotal}, minor units of {currency})"
        )
    if rate.max_weight_grams is not None and weight_grams > rate.max_weight_grams:
        return dropped(
            f"the {name} carries up to {rate.max_weight_grams} g; the cart weighs {weight_grams} g"
        )
    return dropped(f"another rate of the {name} now applies to the cart: choose it again")


def code_notice(code: str, refusal: pricing.Refusal) -> Notice:
    """The notice of a code dropped because of ``refusal``."""
    return Notice(refusal.reason, f"{code} was removed: {refusal.detail}")
