"""The admin's forms of options, variants, stock per location and stock locations, turned
into API bodies (or messages beside the fields that stop them). Pure, no I/O.

- options: up to three rows of a name and its values typed in order, comma-separated
  (``S, M, L``), as ``PATCH /admin/products/{id}`` ``options`` wants them;
- a variant: SKU, one value per option (``option.<name>``), a price per currency
  (``price_<CUR>``; the first currency, the shop's base, is required) and the weight;
- stock: ``on_hand_<code>`` per location, only the ones that changed;
- a location: code, name, priority.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from emporium.storefront.admin.forms import FormResult, parse_amount, sku_error

__all__ = [
    "MAX_OPTIONS",
    "location_body",
    "options_body",
    "options_rows",
    "stock_changes",
    "variant_body",
]

MAX_OPTIONS = 3
_MAX_VALUES = 50
_MAX_LENGTH = 50
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_MAX_ON_HAND = 1_000_000_000
_MAX_WEIGHT = 1_000_000


def options_rows(options: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The options form's rows (always ``MAX_OPTIONS``, the empty ones to fill in)."""
    rows = [
        {"name": str(o.get("name", "")), "values": ", ".join(str(v) for v in o.get("values", []))}
        for o in options
    ][:MAX_OPTIONS]
    return rows + [{"name": "", "values": ""}] * (MAX_OPTIONS - len(rows))


def options_body(form: Mapping[str, str]) -> FormResult:
    """Rows ``option_name_<n>``/``option_values_<n>`` (n = 1..3) as ``{"options": [...]}``;
    a row with neither is skipped (that is how an option is removed)."""
    result = FormResult()
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n in range(1, MAX_OPTIONS + 1):
        name = form.get(f"option_name_{n}", "").strip()
        values = [v.strip() for v in form.get(f"option_values_{n}", "").split(",") if v.strip()]
        if not name and not values:
            continue
        if not name:
            result.errors[f"option_name_{n}"] = "Name this option, for example Size."
        elif len(name) > _MAX_LENGTH:
            result.errors[f"option_name_{n}"] = f"Keep the name to {_MAX_LENGTH} characters."
        elif name.casefold() in seen:
            result.errors[f"option_name_{n}"] = "Another option already has this name."
        seen.add(name.casefold())
        if not values:
            result.errors[f"option_values_{n}"] = "Type its values, separated by commas."
        elif len(values) > _MAX_VALUES:
            result.errors[f"option_values_{n}"] = f"An option has at most {_MAX_VALUES} values."
        elif any(len(v) > _MAX_LENGTH for v in values):
            result.errors[f"option_values_{n}"] = f"Keep each value to {_MAX_LENGTH} characters."
        elif len({v.casefold() for v in values}) < len(values):
            result.errors[f"option_values_{n}"] = "A value is there twice."
        options.append({"name": name, "values": values})
    result.body = {"options": options}
    return result


def variant_body(
    form: Mapping[str, str],
    options: Sequence[Mapping[str, Any]],
    currencies: Sequence[str],
    *,
    partial: bool = False,
) -> FormResult:
    """The variant form as ``POST /admin/products/{id}/variants`` (``partial``: ``PATCH
    /admin/variants/{id}``) wants it. Prices: the first currency's is required, the others
    are optional (an empty one: not sold in it). Weight: empty is 0 (``partial``: unchanged)."""
    result = FormResult()
    sku = form.get("sku", "").strip()
    if (problem := sku_error(sku)) is not None:
        result.errors["sku"] = problem
    chosen: dict[str, str] = {}
    for option in options:
        name = str(option.get("name", ""))
        value = form.get(f"option.{name}", "").strip()
        if value not in [str(v) for v in option.get("values", [])]:
            result.errors["options"] = f"Choose one of the values of {name}."
        chosen[name] = value
    prices: list[dict[str, Any]] = []
    for n, currency in enumerate(currencies):
        typed = form.get(f"price_{currency}", "").strip()
        if not typed and n > 0:
            continue
        try:
            prices.append({"amount": parse_amount(typed, currency), "currency": currency})
        except ValueError as error:
            result.errors[f"price_{currency}"] = str(error)
    result.body = {"sku": sku, "options": chosen, "prices": prices}
    weight = form.get("weight_grams", "").strip()
    if weight:
        if not weight.isdigit() or int(weight) > _MAX_WEIGHT:
            result.errors["weight_grams"] = "Enter the weight in whole grams, up to 1000000."
        else:
            result.body["weight_grams"] = int(weight)
    elif not partial:
        result.body["weight_grams"] = 0
    return result


def stock_changes(form: Mapping[str, str], current: Mapping[str, int]) -> FormResult:
    """``on_hand_<code>`` per location as ``{code: on_hand}``, only those that differ from
    ``current`` (a location not in it counts as 0 on hand)."""
    result = FormResult()
    for code, had in current.items():
        typed = form.get(f"on_hand_{code}", "").strip()
        if not typed:
            continue
        if not typed.isdigit():
            result.errors[f"on_hand_{code}"] = "Enter the number on the shelf: 0 or more."
        elif int(typed) > _MAX_ON_HAND:
            result.errors[f"on_hand_{code}"] = "That is more than a shelf can hold."
        elif int(typed) != had:
            result.body[code] = int(typed)
    return result


def location_body(form: Mapping[str, str]) -> FormResult:
    """The new location form as ``POST /admin/locations`` wants it."""
    result = FormResult()
    code = form.get("code", "").strip()
    name = form.get("name", "").strip()
    priority = form.get("priority", "").strip() or "0"
    if not _CODE.match(code):
        result.errors["code"] = (
            "Use up to 32 lower-case letters, digits or dashes, starting with a letter or digit."
        )
    if not name:
        result.errors["name"] = "Enter a name."
    elif len(name) > 200:
        result.errors["name"] = "Keep the name to 200 characters."
    if not priority.isdigit() or int(priority) > 1_000_000:
        result.errors["priority"] = "Enter a whole number from 0 (ships first) to 1000000."
        priority = "0"
    result.body = {"code": code, "name": name, "priority": int(priority)}
    return result
