"""The checkout's price breakdown as the shop shows it (pure, no I/O).

The API prices the cart and the order (``subtotal - discounts + shipping + tax == total``);
this module only puts its figures in rows and words: ``breakdown_rows(cart)`` gives the
lines of the totals box in their order (subtotal, each discount with its code, shipping or
"chosen at checkout", each tax line with its rate, total), and ``refusal_message`` /
``notice_message`` say in plain words why a code was refused or a code or shipping method
was dropped (the API's ``reason`` words). Nothing here adds amounts up: the shop shows the
API's figures, so what the shopper sees is what the order stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "REFUSALS",
    "Row",
    "breakdown_rows",
    "notice_message",
    "option_label",
    "rate_percent",
    "refusal_message",
    "tax_note",
]

#: A refused (or dropped) code's ``reason`` in words for a shopper.
REFUSALS: dict[str, str] = {
    "unknown": "There is no such code. Check its spelling.",
    "expired": "This code has expired.",
    "not_started": "This code is not valid yet.",
    "used_up": "This code has been used as often as it can be.",
    "not_eligible": "This code does not apply to anything in your cart.",
    "min_subtotal": "Your cart does not reach this code's minimum order value yet.",
}
_USED_BY_YOU = "You have already used this code as often as it allows."


@dataclass(frozen=True)
class Row:
    """One line of the totals box; ``amount`` is the API's {amount, currency} (or None)."""

    key: str  # subtotal, discount, shipping, tax, total (the row's CSS class and test id)
    label: str
    amount: Mapping[str, Any] | None = None
    note: str = ""  # shown instead of an amount (shipping not chosen yet)
    negative: bool = False  # a discount: shown with a minus sign


def rate_percent(rate_bp: int) -> str:
    """Basis points as a percentage: 1900 -> ``19 %``, 725 -> ``7.25 %``."""
    value = (Decimal(int(rate_bp)) / 100).normalize()
    text = f"{value:f}"
    return f"{text} %"


def _money(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) and value.get("amount") is not None else None


def _shipping_row(cart: Mapping[str, Any]) -> Row:
    shipping = cart.get("shipping")
    if isinstance(shipping, Mapping) and _money(shipping.get("amount")) is not None:
        return Row("shipping", f"Shipping: {shipping.get('name') or 'chosen method'}",
                   _money(shipping.get("amount")))  # fmt: skip
    if cart.get("shipping_address") and not cart.get("shipping_options"):
        # No zone covers the country: the order ships without a shipping charge.
        return Row("shipping", "Shipping", note="No charge")
    if cart.get("shipping_address"):
        return Row("shipping", "Shipping", note="Not chosen yet")
    return Row("shipping", "Shipping", note="Chosen at checkout")


def breakdown_rows(cart: Mapping[str, Any], *, placed: bool = False) -> list[Row]:
    """The totals box of a cart or (``placed``) an order, in the API's breakdown order.

    A cart without a breakdown (a visitor's cart kept in the session, priced from the
    catalog) shows its total as the subtotal and says shipping and tax come at checkout;
    an order without one (placed before the shop priced shipping and tax) its total only.
    """
    total = _money(cart.get("total"))
    if _money(cart.get("subtotal")) is None:
        if placed:
            return [Row("total", "Total", total)]
        return [
            Row("subtotal", "Subtotal", total),
            Row("shipping", "Shipping and tax", note="Calculated at checkout"),
            Row("total", "Total", total),
        ]
    rows = [Row("subtotal", "Subtotal", _money(cart.get("subtotal")))]
    for discount in cart.get("discounts") or []:
        if not isinstance(discount, Mapping):
            continue
        name = str(discount.get("name") or "Discount")
        code = discount.get("code")
        label = f"{name} (code {code})" if code else name
        rows.append(Row("discount", label, _money(discount.get("amount")), negative=True))
    rows.append(_shipping_row(cart))
    tax = cart.get("tax")
    lines = tax.get("lines") if isinstance(tax, Mapping) else None
    for line in lines or []:
        if isinstance(line, Mapping):
            label = f"{line.get('name') or 'Tax'} {rate_percent(int(line.get('rate_bp') or 0))}"
            rows.append(Row("tax", label, _money(line.get("amount"))))
    rows.append(Row("total", "Total", total))
    return rows


def refusal_message(reason: str, detail: str = "") -> str:
    """Why a code was refused (``POST /cart/codes``' 422 ``reason``) in plain words."""
    if reason == "used_up" and "customer" in detail.lower():
        return _USED_BY_YOU
    return REFUSALS.get(reason, "This code cannot be used.")


def notice_message(notice: Mapping[str, Any]) -> str:
    """A cart notice (a code or shipping method dropped) in plain words, its detail after."""
    reason = str(notice.get("reason") or "")
    detail = str(notice.get("detail") or "").strip()
    if reason in REFUSALS:
        plain = refusal_message(reason, detail)
        text = f"A discount code was removed from your cart: {plain[0].lower()}{plain[1:]}"
    else:
        text = "Your shipping method was removed: it no longer applies to this cart."
    return f"{text} ({detail})" if detail and detail.lower() not in text.lower() else text


def option_label(option: Mapping[str, Any], money: Any) -> str:
    """A shipping option as its radio button reads: ``Standard: €4.90, about 3 days``."""
    price = _money(option.get("amount"))
    amount = "free" if price is not None and int(price["amount"]) == 0 else money(price)
    days = option.get("estimated_days")
    when = ""
    if isinstance(days, int) and days > 0:
        when = f", about {days} day" + ("s" if days != 1 else "")
    return f"{option.get('name') or 'Shipping'}: {amount}{when}"


def _entered(priced: Mapping[str, Any]) -> int:
    # What the lines cost as entered: a cart's line totals, an order's price x quantity.
    total = 0
    for line in priced.get("items") or priced.get("lines") or []:
        if not isinstance(line, Mapping):
            continue
        if _money(line.get("line_total")) is not None:
            total += int(line["line_total"]["amount"])
        elif _money(line.get("unit_price")) is not None:
            total += int(line["unit_price"]["amount"]) * int(line.get("quantity") or 0)
    return total


def tax_note(priced: Mapping[str, Any]) -> str:
    """A sentence under the breakdown when the prices include the tax, else ``""``.

    The API shows tax-inclusive prices' breakdown net of tax (subtotal, discounts and
    shipping without it, the tax added back as its own lines), while the lines and the
    shipping options show what was entered. The two read alike once said: the prices
    include the tax when the subtotal is below what the lines cost as entered.
    """
    subtotal = _money(priced.get("subtotal"))
    tax = priced.get("tax")
    taxed = _money(tax.get("amount")) if isinstance(tax, Mapping) else None
    if subtotal is None or taxed is None or int(taxed["amount"]) == 0:
        return ""
    if int(subtotal["amount"]) >= _entered(priced):
        return ""
    return (
        "Prices include tax: the subtotal, discounts and shipping are shown here without it, "
        "and the tax lines add it back."
    )
