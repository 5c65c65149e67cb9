"""Where a checkout stands, from the priced cart alone (pure, no I/O).

The checkout is three steps on one page: the address (``PUT /cart/shipping-address``), the
shipping method when the address's country has any (``PUT /cart/shipping-method``), then the
card and the order (``POST /orders``, which takes the cart's address and method). The cart
the API answers says which steps are done; ``Steps`` reads it so the page opens the first
step still to do and the order form says what is missing before it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Steps", "matching_address", "steps_of"]

_SAME = ("line1", "line2", "city", "postal_code", "country")


@dataclass(frozen=True)
class Steps:
    address: Mapping[str, Any] | None  # the cart's shipping address (None: not chosen yet)
    options: tuple[Mapping[str, Any], ...]  # the shipping methods offered for it
    method_id: str | None  # the chosen shipping rate's id

    @property
    def needs_method(self) -> bool:
        """The address's country has shipping methods and none is chosen yet."""
        return bool(self.options) and self.method_id is None

    @property
    def ready(self) -> bool:
        """The order can be placed (only the card is left to choose)."""
        return self.address is not None and not self.needs_method

    @property
    def current(self) -> str:
        """The first step still to do: ``address``, ``shipping`` or ``payment``."""
        if self.address is None:
            return "address"
        return "shipping" if self.needs_method else "payment"

    def missing(self) -> tuple[str, str] | None:
        """(field, message) of what stops the order, or None when it can be placed."""
        if self.address is None:
            return ("address_id", "Choose where to ship the order first.")
        if self.needs_method:
            return ("shipping", "Choose a shipping method first.")
        return None


def steps_of(cart: Mapping[str, Any]) -> Steps:
    """The checkout's steps as ``cart`` (the API's, with its breakdown) has them."""
    address = cart.get("shipping_address")
    options = cart.get("shipping_options") or []
    shipping = cart.get("shipping")
    method = shipping.get("id") if isinstance(shipping, Mapping) else None
    return Steps(
        address=address if isinstance(address, Mapping) else None,
        options=tuple(o for o in options if isinstance(o, Mapping)),
        method_id=str(method) if method else None,
    )


def _norm(value: Any) -> str:
    return str(value or "").strip().casefold()


def matching_address(
    address: Mapping[str, Any] | None, saved: Sequence[Mapping[str, Any]]
) -> str | None:
    """The id of the saved address that is ``address`` (the cart's), if one is."""
    if address is None:
        return None
    for candidate in saved:
        if all(_norm(candidate.get(k)) == _norm(address.get(k)) for k in _SAME):
            return str(candidate.get("id"))
    return None
