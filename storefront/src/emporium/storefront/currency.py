"""Which currency the shop shows a visitor its prices in (pure, no I/O).

The visitor picks one of ``STOREFRONT_CURRENCIES`` in the header; the choice is a plain
cookie (``COOKIE``: nothing secret, and it outlives signing out). ``parse_choice`` reads
it, or anything else typed or sent, against the configured list: an unknown, malformed or
missing value is the base currency (the list's first), never an error.

A cart's currency is fixed by its first line (the API answers 422 ``cart-currency-fixed``
to a line in another), so while the cart has lines the shop shows the cart's currency
whatever was picked (``Shown``): a shopper never sees prices they cannot buy at. The pick
is kept and applies again once the cart is empty or ordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COOKIE", "COOKIE_MAX_AGE", "Shown", "parse_choice", "shown"]

COOKIE = "emporium_currency"
#: A year: a preference, not a session.
COOKIE_MAX_AGE = 365 * 24 * 3600


def parse_choice(raw: str | None, offered: Sequence[str]) -> str:
    """``raw`` (a cookie, a form field) as one of ``offered`` (``usd`` is ``USD``); the
    base currency (``offered[0]``) for anything else."""
    code = (raw or "").strip().upper()
    return code if code in offered else offered[0]


@dataclass(frozen=True, slots=True)
class Shown:
    """The currency the pages show (``code``), what the visitor picked, what the picker
    offers, and whether the cart's lines fix it (``fixed_by_cart``)."""

    code: str
    chosen: str
    offered: tuple[str, ...]
    fixed_by_cart: bool = False

    @property
    def base(self) -> str:
        return self.offered[0]


def shown(chosen: str, offered: Sequence[str], cart_currency: str | None, cart_count: int) -> Shown:
    """The currency to show: the cart's while it has lines (if it is one the shop offers;
    a cart in a currency no longer offered is still the cart's), else ``chosen``."""
    if cart_count > 0 and cart_currency:
        return Shown(cart_currency, chosen, tuple(offered), fixed_by_cart=True)
    return Shown(chosen, chosen, tuple(offered))
