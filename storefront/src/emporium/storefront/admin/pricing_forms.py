"""The admin's checkout-pricing forms (shipping zones, tax rates, promotions) as API bodies.

Pure functions, no I/O, like ``forms.py``: what the admin types (amounts in euros, rates in
percent, times in UTC) becomes the body ``/admin/shipping-zones``, ``/admin/tax-rates`` and
``/admin/promotions`` take (minor units, basis points, ISO 8601), or messages beside the
fields that stop it. The API checks everything again; its own problems come back beside the
same fields (``rate_field`` names a zone's rate row the way the form does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from emporium.storefront.admin.forms import FormResult, format_amount, parse_amount

__all__ = [
    "PROMOTION_FIELDS",
    "RATE_ROWS",
    "ZONE_FIELDS",
    "format_instant",
    "parse_percent",
    "promotion_body",
    "promotion_values",
    "rate_field",
    "tax_rate_body",
    "zone_body",
]

#: Empty rate rows the new-zone form offers (a row left without a name is not sent).
RATE_ROWS = 4
_RATE_PARTS = ("name", "amount", "currency", "min_subtotal", "max_weight_grams", "estimated_days")
ZONE_FIELDS = (
    "name",
    "countries",
    *(f"rate-{i}-{p}" for i in range(RATE_ROWS) for p in _RATE_PARTS),
)
PROMOTION_FIELDS = (
    "name", "kind", "value", "currency", "code", "categories", "products", "starts_at",
    "ends_at", "usage_limit", "per_customer_limit", "min_subtotal",
)  # fmt: skip
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,63}$")
_REGION = re.compile(r"^[A-Z0-9]{1,3}$")
_TAX_CLASS = re.compile(r"^[a-z0-9_-]{1,32}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_RATE_AT = re.compile(r"^body\.rates\.(\d+)\.(\w+)$")


def _amount(text: str, currency: str) -> int:
    # forms.parse_amount speaks of a price; here it is a rate, a threshold or a discount.
    try:
        return parse_amount(text, currency)
    except ValueError as error:
        words = str(error).replace("a price", "an amount").replace("price", "amount")
        raise ValueError(words) from None


def _name(form: Mapping[str, str], key: str, result: FormResult) -> str:
    value = form.get(key, "").strip()
    if not value:
        result.errors[key] = "Enter a name."
    elif len(value) > 100:
        result.errors[key] = "Keep the name to 100 characters."
    return value


def _optional_amount(
    form: Mapping[str, str], key: str, result: FormResult, currency: str
) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return _amount(text, currency)
    except ValueError as error:
        result.errors[key] = str(error)
        return None


def _whole(
    form: Mapping[str, str], key: str, result: FormResult, *, low: int, high: int
) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        result.errors[key] = f"Enter a whole number from {low} to {high:,}."
        return None
    return int(text)


def _currency(form: Mapping[str, str], key: str, result: FormResult) -> str:
    value = (form.get(key, "").strip() or "EUR").upper()
    if not _CURRENCY.match(value):
        result.errors[key] = "Enter a currency as its three letters, like EUR."
    return value


def zone_body(form: Mapping[str, str]) -> tuple[FormResult, list[int]]:
    """``POST /admin/shipping-zones``' body, and the form row each sent rate came from."""
    result = FormResult()
    name = _name(form, "name", result)
    countries = [c for c in re.split(r"[\s,;]+", form.get("countries", "").upper()) if c]
    if not countries:
        result.errors["countries"] = "Enter at least one country code, like AT."
    elif any(not _COUNTRY.match(c) for c in countries):
        result.errors["countries"] = "Enter two-letter country codes (ISO 3166), like AT, DE."
    rates: list[dict[str, Any]] = []
    rows: list[int] = []
    for i in range(RATE_ROWS):
        key = f"rate-{i}-"
        if not any(form.get(key + part, "").strip() for part in ("name", "amount")):
            continue  # an empty row
        rate_name = _name(form, key + "name", result)
        rate_currency = _currency(form, key + "currency", result)
        try:
            amount = _amount(form.get(key + "amount", ""), rate_currency)
        except ValueError as error:
            result.errors[key + "amount"] = str(error)
            amount = 0
        rates.append(
            {
                "name": rate_name,
                "amount": amount,
                "currency": rate_currency,
                "min_subtotal": _optional_amount(form, key + "min_subtotal", result, rate_currency),
                "max_weight_grams": _whole(
                    form, key + "max_weight_grams", result, low=0, high=10**9
                ),
                "estimated_days": _whole(form, key + "estimated_days", result, low=0, high=365),
            }
        )
        rows.append(i)
    if not rates:
        result.errors["rate-0-name"] = "Give the zone at least one rate."
    result.body = {"name": name, "countries": countries, "rates": rates}
    return result, rows


def rate_field(location: str, rows: Sequence[int]) -> str | None:
    """The form field of an API error about a sent rate (``body.rates.1.amount``)."""
    found = _RATE_AT.match(location)
    if found is None or int(found.group(1)) >= len(rows):
        return None
    return f"rate-{rows[int(found.group(1))]}-{found.group(2)}"


def parse_percent(text: str) -> int:
    """``"19"`` or ``"7,25"`` (percent) as basis points (1900, 725); ValueError in words."""
    cleaned = text.strip().removesuffix("%").strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter the rate in percent, for example 19 or 7.25.") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValueError("Enter a rate from 0 to 100 percent.")
    points = value * 100
    if points != points.to_integral_value():
        raise ValueError("Use at most two decimals, like 7.25.")
    return int(points)


def tax_rate_body(form: Mapping[str, str]) -> FormResult:
    """``POST /admin/tax-rates``' body."""
    result = FormResult()
    country = form.get("country", "").strip().upper()
    if not _COUNTRY.match(country):
        result.errors["country"] = "Choose a country."
    region = form.get("region", "").strip().upper() or None
    if region is not None and not _REGION.match(region):
        result.errors["region"] = (
            "Enter the region's code (up to 3 letters or digits) or leave it empty."
        )
    tax_class = form.get("tax_class", "").strip().lower() or "standard"
    if not _TAX_CLASS.match(tax_class):
        result.errors["tax_class"] = "Use lower-case letters, digits, - or _ (like standard)."
    try:
        rate_bp = parse_percent(form.get("rate", ""))
    except ValueError as error:
        result.errors["rate"] = str(error)
        rate_bp = 0
    result.body = {
        "country": country,
        "region": region,
        "tax_class": tax_class,
        "rate_bp": rate_bp,
        "name": _name(form, "name", result),
    }
    return result


def _instant(form: Mapping[str, str], key: str, result: FormResult) -> str | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        result.errors[key] = "Enter a date and time, like 2026-12-24 18:00."
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the form's times are UTC (its label says so)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_instant(value: Any) -> str:
    """An API time as a ``datetime-local`` input shows it, in UTC (``""`` for None)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M")


def promotion_body(form: Mapping[str, str], categories: Sequence[str]) -> FormResult:
    """``POST /admin/promotions``' body (``PATCH`` takes the same: every field, null clears).

    ``categories`` are the ids ticked in the form (a multi-valued field).
    """
    result = FormResult()
    kind = form.get("kind", "")
    if kind not in ("percentage", "fixed"):
        result.errors["kind"] = "Choose a percentage or a fixed amount."
    value_text = form.get("value", "").strip()
    value = 0
    currency: str | None = None
    if kind == "fixed":
        currency = _currency(form, "currency", result)
        try:
            value = _amount(value_text, currency)
        except ValueError as error:
            result.errors["value"] = str(error)
        if "value" not in result.errors and value < 1:
            result.errors["value"] = "Enter an amount above 0."
    elif kind == "percentage":
        if not value_text.isdigit() or not 1 <= int(value_text) <= 100:
            result.errors["value"] = "Enter a whole percent from 1 to 100."
        else:
            value = int(value_text)
    code = form.get("code", "").strip().upper() or None
    if code is not None and not _CODE.match(code):
        result.errors["code"] = (
            "Use up to 64 letters, digits, - or _, starting with a letter or digit."
        )
    products = [p for p in re.split(r"[\s,;]+", form.get("products", "")) if p]
    if any(not _UUID.match(p) for p in products):
        result.errors["products"] = (
            "Enter product ids (as in a product's admin address), one a line."
        )
    usage_limit = _whole(form, "usage_limit", result, low=1, high=2**31 - 1)
    per_customer = _whole(form, "per_customer_limit", result, low=1, high=2**31 - 1)
    if code is None and (usage_limit or per_customer):
        result.errors["usage_limit"] = "Only a promotion with a code can have usage limits."
    starts_at = _instant(form, "starts_at", result)
    ends_at = _instant(form, "ends_at", result)
    if starts_at and ends_at and ends_at <= starts_at:
        result.errors["ends_at"] = "The end must come after the start."
    result.body = {
        "name": _name(form, "name", result),
        "kind": kind,
        "value": value,
        "currency": currency,
        "code": code,
        "applies_to": {"categories": list(categories), "products": products}
        if categories or products
        else None,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "usage_limit": usage_limit,
        "per_customer_limit": per_customer,
        # A percentage has no currency of its own: its threshold is read in cents-like
        # units, as the API applies it to any cart's minor units.
        "min_subtotal": _optional_amount(form, "min_subtotal", result, currency or "EUR"),
    }
    return result


def promotion_values(promotion: Mapping[str, Any]) -> dict[str, Any]:
    """A promotion of the API as its edit form's values."""
    applies = promotion.get("applies_to") or {}
    kind = str(promotion.get("kind") or "percentage")
    value = int(promotion.get("value") or 0)
    currency = str(promotion.get("currency") or "EUR")

    def amount(key: str) -> str:
        found = promotion.get(key)
        return format_amount(int(found), currency) if found is not None else ""

    def whole(key: str) -> str:
        found = promotion.get(key)
        return str(found) if found is not None else ""

    return {
        "name": str(promotion.get("name") or ""),
        "kind": kind,
        "value": format_amount(value, currency) if kind == "fixed" else str(value),
        "currency": currency,
        "code": str(promotion.get("code") or ""),
        "categories": [str(c) for c in applies.get("categories") or []],
        "products": "\n".join(str(p) for p in applies.get("products") or []),
        "starts_at": format_instant(promotion.get("starts_at")),
        "ends_at": format_instant(promotion.get("ends_at")),
        "usage_limit": whole("usage_limit"),
        "per_customer_limit": whole("per_customer_limit"),
        "min_subtotal": amount("min_subtotal"),
    }
