"""The price breakdown and the checkout's steps as the shop shows them (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.storefront.api import ApiProblem
from emporium.storefront.breakdown import (
    REFUSALS,
    breakdown_rows,
    notice_message,
    option_label,
    rate_percent,
    refusal_message,
    tax_note,
)
from emporium.storefront.shop.codes import code_feedback
from emporium.storefront.shop.steps import matching_address, steps_of
from emporium.storefront.web import money

ADDRESS = {"line1": "1 Ring", "city": "Wien", "postal_code": "1010", "country": "AT"}


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def priced(**changes: Any) -> dict[str, Any]:
    cart: dict[str, Any] = {
        "items": [],
        "subtotal": eur(4185),
        "discounts": [
            {"code": None, "name": "Books week", "amount": eur(100)},
            {"code": "WELCOME10", "name": "Welcome", "amount": eur(408)},
        ],
        "shipping": {"id": "r1", "name": "Standard", "amount": eur(412)},
        "tax": {
            "amount": eur(777),
            "lines": [{"name": "VAT", "rate_bp": 2000, "amount": eur(777)}],
        },
        "total": eur(4866),
        "shipping_address": ADDRESS,
        "shipping_options": [{"id": "r1", "name": "Standard", "amount": eur(490)}],
        "codes": ["WELCOME10"],
        "notices": [],
    }
    return cart | changes


def shown(rows: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (r.key, r.label, ("-" if r.negative else "") + money(r.amount) if r.amount else r.note)
        for r in rows
    ]


def test_the_rows_follow_the_api_breakdown_in_its_order() -> None:
    assert shown(breakdown_rows(priced())) == [
        ("subtotal", "Subtotal", "€41.85"),
        ("discount", "Books week", "-€1.00"),
        ("discount", "Welcome (code WELCOME10)", "-€4.08"),
        ("shipping", "Shipping: Standard", "€4.12"),
        ("tax", "VAT 20 %", "€7.77"),
        ("total", "Total", "€48.66"),
    ]


@pytest.mark.parametrize(
    ("address", "options", "note"),
    [
        (None, [], "Chosen at checkout"),
        (ADDRESS, [{"id": "r1"}], "Not chosen yet"),
        (ADDRESS, [], "No charge"),  # no zone covers the country: no shipping charge
    ],
)
def test_shipping_not_chosen_says_what_comes(
    address: dict[str, str] | None, options: list[dict[str, str]], note: str
) -> None:
    cart = priced(shipping=None, shipping_address=address, shipping_options=options)
    row = next(r for r in breakdown_rows(cart) if r.key == "shipping")
    assert (row.amount, row.note) == (None, note)


def test_a_visitors_cart_and_an_old_order_without_a_breakdown() -> None:
    visitor = {"items": [], "total": eur(1990)}
    assert [r.key for r in breakdown_rows(visitor)] == ["subtotal", "shipping", "total"]
    assert breakdown_rows(visitor)[1].note == "Calculated at checkout"
    assert shown(breakdown_rows(visitor, placed=True)) == [("total", "Total", "€19.90")]


def test_tax_rates_read_as_percentages() -> None:
    assert [rate_percent(bp) for bp in (1900, 725, 2000, 0, 5)] == [
        "19 %",
        "7.25 %",
        "20 %",
        "0 %",
        "0.05 %",
    ]


def test_every_refusal_reason_has_plain_words() -> None:
    for reason in ("unknown", "expired", "not_started", "used_up", "not_eligible", "min_subtotal"):
        assert refusal_message(reason) == REFUSALS[reason]
    assert "already used" in refusal_message("used_up", "per-customer limit of 1 reached")
    assert refusal_message("something_new") == "This code cannot be used."


def test_a_refused_code_is_said_beside_the_code_field() -> None:
    problem = ApiProblem(
        422, type="x/code-refused", detail="no such code", extra={"reason": "unknown"}
    )
    assert code_feedback(problem).get("code") == "There is no such code. Check its spelling."
    too_long = ApiProblem(
        422, errors=[{"field": "body.code", "message": "String should have at most 64 characters"}]
    )
    assert code_feedback(too_long).get("code") == "Use at most 64 characters."


def test_notices_say_what_was_dropped_and_why() -> None:
    dropped_code = notice_message({"reason": "expired", "detail": "WELCOME10 ended yesterday"})
    assert dropped_code == (
        "A discount code was removed from your cart: this code has expired. "
        "(WELCOME10 ended yesterday)"
    )
    dropped_method = notice_message({"reason": "shipping_unavailable", "detail": ""})
    assert dropped_method.startswith("Your shipping method was removed")


def test_an_option_reads_with_its_price_and_days() -> None:
    assert option_label({"name": "Express", "amount": eur(990), "estimated_days": 1}, money) == (
        "Express: €9.90, about 1 day"
    )
    assert option_label({"name": "Standard", "amount": eur(0), "estimated_days": 4}, money) == (
        "Standard: free, about 4 days"
    )
    assert option_label({"name": "Pickup", "amount": eur(250), "estimated_days": None}, money) == (
        "Pickup: €2.50"
    )


def test_the_checkout_opens_at_the_first_step_still_to_do() -> None:
    no_address = steps_of(priced(shipping=None, shipping_address=None, shipping_options=[]))
    assert (no_address.current, no_address.ready) == ("address", False)
    assert no_address.missing() == ("address_id", "Choose where to ship the order first.")
    to_choose = steps_of(priced(shipping=None))
    assert (to_choose.current, to_choose.needs_method) == ("shipping", True)
    assert to_choose.missing() == ("shipping", "Choose a shipping method first.")
    chosen = steps_of(priced())
    assert (chosen.current, chosen.ready, chosen.method_id, chosen.missing()) == (
        "payment",
        True,
        "r1",
        None,
    )
    uncovered = steps_of(priced(shipping=None, shipping_options=[]))
    assert uncovered.ready  # no zone covers the country: nothing to choose


def test_the_carts_address_is_found_among_the_saved_ones() -> None:
    saved = [
        {"id": "a1", **ADDRESS, "city": "Graz"},
        {"id": "a2", **ADDRESS, "line2": None, "city": "WIEN "},
    ]
    assert matching_address(ADDRESS, saved) == "a2"
    assert matching_address({**ADDRESS, "postal_code": "9999"}, saved) is None
    assert matching_address(None, saved) is None


def test_tax_inclusive_prices_are_said_to_be_so_under_the_breakdown() -> None:
    line = {"line_total": eur(5000)}
    # EUR: the lines cost 50.00 as entered, the breakdown's subtotal is net (41.85).
    inclusive = priced(items=[line])
    assert tax_note(inclusive).startswith("Prices include tax")
    # An order's lines: price x quantity.
    order = priced(items=None, lines=[{"unit_price": eur(2500), "quantity": 2}])
    assert tax_note(order).startswith("Prices include tax")
    # Tax added on top (the subtotal is what was entered), or no tax at all: nothing to say.
    assert tax_note(priced(items=[{"line_total": eur(4185)}])) == ""
    assert tax_note(priced(items=[line], tax={"amount": eur(0), "lines": []})) == ""
    assert tax_note({"items": [line], "total": eur(5000)}) == ""
