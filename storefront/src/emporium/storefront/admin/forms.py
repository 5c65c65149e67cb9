"""The admin's forms: what a person types, turned into API bodies (or messages beside the
fields that stop them). Pure functions, no I/O; the API's own problems are put in words by
``emporium.storefront.problems.explain``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from emporium.contracts.currencies import minor_units
from emporium.storefront.problems import FORM

__all__ = [
    "FORM",
    "ORDER_STATUSES",
    "FormResult",
    "customer_update",
    "format_amount",
    "own_account_change",
    "parse_amount",
    "product_body",
    "sku_error",
    "stock_body",
]

ORDER_STATUSES = ("pending", "confirmed", "rejected", "cancelled", "shipped")
_MAX_AMOUNT = 10**12
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class FormResult:
    """A request body, or the messages that stop it from being sent."""

    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_amount(text: str, currency: str) -> int:
    """``"12.5"`` or ``"12,50"`` in ``currency`` as its minor units (1250 for EUR, 13 for
    ``"13"`` yen); ValueError in plain words."""
    cleaned = text.strip().replace(" ", "").replace(",", ".").lstrip("€$£¥")
    if not cleaned:
        raise ValueError("Enter a price, for example 12.50.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter the price as a number, for example 12.50.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("The price cannot be negative.")
    exponent = minor_units(currency)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        if exponent == 0:
            raise ValueError(f"{currency} has no decimals: enter a whole amount.")
        raise ValueError(f"Use at most {exponent} decimals for {currency}.")
    if minor > _MAX_AMOUNT:
        raise ValueError("That price is too large.")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """Minor units in ``currency`` as the form shows them: 1250 EUR -> ``"12.50"``, 1250 JPY
    -> ``"1250"``."""
    exponent = minor_units(currency)
    if exponent == 0:
        return str(minor)
    return f"{minor // 10**exponent}.{minor % 10**exponent:0{exponent}d}"


def sku_error(sku: str) -> str | None:
    """What is wrong with a typed SKU (None: nothing), as the catalog checks it."""
    if not sku:
        return "Enter a SKU."
    if len(sku) > 64 or not _SKU.match(sku):
        return (
            "Use up to 64 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit."
        )
    return None


def product_body(form: Mapping[str, str], currency: str, *, partial: bool = False) -> FormResult:
    """The product form as ``POST /admin/products`` (``partial``: ``PATCH``) wants it, its
    price in ``currency`` (the shop's base currency)."""
    result = FormResult()
    sku = form.get("sku", "").strip()
    name = form.get("name", "").strip()
    if (problem := sku_error(sku)) is not None:
        result.errors["sku"] = problem
    if not name:
        result.errors["name"] = "Enter a name."
    elif len(name) > 200:
        result.errors["name"] = "Keep the name to 200 characters."
    try:
        amount = parse_amount(form.get("price", ""), currency)
    except ValueError as error:
        result.errors["price"] = str(error)
        amount = 0
    description = form.get("description", "").replace("\r\n", "\n")
    if len(description) > 10_000:
        result.errors["description"] = "Keep the description to 10,000 characters."
    category = form.get("category_id", "").strip()
    result.body = {
        "sku": sku,
        "name": name,
        "description": description,
        "price": {"amount": amount, "currency": currency},
        "category_id": category or None,
    }
    if not partial:
        result.body["attributes"] = {}
    return result


def stock_body(form: Mapping[str, str]) -> FormResult:
    """The stock form as ``PUT /admin/products/{id}/stock`` wants it."""
    text = form.get("on_hand", "").strip()
    if not text.isdigit():
        return FormResult(errors={"on_hand": "Enter the number on the shelf: 0 or more."})
    on_hand = int(text)
    if on_hand > 1_000_000_000:
        return FormResult(errors={"on_hand": "That is more than a shelf can hold."})
    return FormResult(body={"on_hand": on_hand})


def customer_update(form: Mapping[str, str]) -> FormResult:
    """The role or disabled switch as ``PATCH /admin/customers/{id}`` wants it."""
    body: dict[str, Any] = {}
    if "role" in form:
        if form["role"] not in ("customer", "admin"):
            return FormResult(errors={"role": "Choose customer or admin."})
        body["role"] = form["role"]
    if "disabled" in form:
        body["disabled"] = form["disabled"] == "true"
    if not body:
        return FormResult(errors={FORM: "Nothing to change."})
    return FormResult(body=body)


def own_account_change(body: Mapping[str, Any], *, own: bool) -> str | None:
    """Why an admin may not make this change to their own account (None: they may).

    Disabling or demoting oneself would lock the shop's last admin out in one click; another
    admin can do it if it is really meant.
    """
    if not own:
        return None
    if body.get("disabled") is True:
        return "You cannot disable your own account."
    if body.get("role") == "customer":
        return "You cannot take the admin role from your own account."
    return None
