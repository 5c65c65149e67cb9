"""A visitor's cart before they sign in, kept in the session cookie (pure, no I/O).

The API's cart belongs to a customer, but a shopper may fill a cart first and register at
checkout. Until then the lines (variant id -> quantity) live in the sealed session; on
sign-in they are added to the customer's API cart (``merged_quantity``) and forgotten.
Bounded, so the cookie stays small: ``MAX_LINES`` products, 1-99 of each (the API's range).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "add",
    "is_id",
    "lines_of",
    "merged_quantity",
    "parse_quantity",
    "set_quantity",
]

MAX_LINES = 30
MAX_QUANTITY = 99
_ID = re.compile(r"^[0-9A-Fa-f-]{32,36}$")


def is_id(text: str) -> bool:
    """``text`` looks like a product's or variant's id (a UUID)."""
    return bool(_ID.match(text))


def parse_quantity(text: str, *, allow_zero: bool = False) -> int:
    """A quantity typed in a form; ValueError in plain words."""
    cleaned = text.strip()
    if not cleaned.isdigit():
        raise ValueError("Enter the quantity as a whole number.")
    value = int(cleaned)
    if value < (0 if allow_zero else 1):
        raise ValueError("Enter a quantity of at least 1.")
    if value > MAX_QUANTITY:
        raise ValueError(f"At most {MAX_QUANTITY} of one product fit in a cart.")
    return value


def lines_of(raw: Any) -> dict[str, int]:
    """The session's lines, with anything malformed dropped."""
    if not isinstance(raw, dict):
        return {}
    return {
        str(pid): int(qty)
        for pid, qty in raw.items()
        if isinstance(pid, str) and _ID.match(pid) and isinstance(qty, int) and 0 < qty <= 99
    }


def add(lines: dict[str, int], product_id: str, quantity: int) -> dict[str, int]:
    """``quantity`` more of ``product_id`` (capped at 99); ValueError when the cart is full."""
    if not _ID.match(product_id):
        raise ValueError("That product does not exist.")
    if product_id not in lines and len(lines) >= MAX_LINES:
        raise ValueError(f"A cart holds at most {MAX_LINES} different products.")
    return {**lines, product_id: min(MAX_QUANTITY, lines.get(product_id, 0) + quantity)}


def set_quantity(lines: dict[str, int], product_id: str, quantity: int) -> dict[str, int]:
    """``product_id`` at ``quantity`` (0 removes it)."""
    out = {k: v for k, v in lines.items() if k != product_id}
    if quantity > 0 and product_id in lines:
        out[product_id] = min(MAX_QUANTITY, quantity)
    return out


def merged_quantity(in_account: int, in_session: int) -> int:
    """The quantity after sign-in: both carts' together, within the API's 1-99."""
    return max(1, min(MAX_QUANTITY, in_account + in_session))
