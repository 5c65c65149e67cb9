"""The admin's forms: typed values to API bodies, API problems to words beside fields."""

from __future__ import annotations

import pytest

from emporium.storefront.admin.forms import (
    FORM,
    customer_update,
    format_amount,
    own_account_change,
    parse_amount,
    product_body,
    stock_body,
)
from emporium.storefront.admin.products import category_options


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12,5", "EUR", 1250),
        ("€ 3", "EUR", 300),
        ("0", "EUR", 0),
        (" 1000.01 ", "USD", 100001),
        ("1200", "JPY", 1200),
        ("¥ 1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
    ],
)
def test_a_price_as_people_type_it_becomes_minor_units(
    typed: str, currency: str, minor: int
) -> None:
    assert parse_amount(typed, currency) == minor
    assert parse_amount(format_amount(minor, currency), currency) == minor


def test_amounts_show_in_their_currency_s_minor_units() -> None:
    assert [format_amount(1250, c) for c in ("EUR", "JPY", "KWD")] == ["12.50", "1250", "1.250"]


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "Enter a price"),
        ("twelve", "as a number"),
        ("-1", "negative"),
        ("1.005", "at most 2 decimals"),
        ("1e20", "too large"),
        ("NaN", "negative"),
    ],
)
def test_a_price_that_is_not_one_says_why(typed: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_amount(typed, "EUR")


def test_a_yen_price_takes_no_decimals() -> None:
    with pytest.raises(ValueError, match="JPY has no decimals"):
        parse_amount("12.5", "JPY")


def test_the_product_form_becomes_the_api_body() -> None:
    result = product_body(
        {
            "sku": " LAMP-1 ",
            "name": "Lamp",
            "price": "19.90",
            "description": "a\r\nb",
            "category_id": "",
        },
        "EUR",
    )
    assert result.ok
    assert result.body == {
        "sku": "LAMP-1",
        "name": "Lamp",
        "description": "a\nb",
        "price": {"amount": 1990, "currency": "EUR"},
        "category_id": None,
        "attributes": {},
    }
    edited = product_body({"sku": "LAMP-1", "name": "Lamp", "price": "1"}, "EUR", partial=True)
    assert "attributes" not in edited.body  # an edit keeps the product's attributes


def test_every_wrong_product_field_gets_its_own_message() -> None:
    result = product_body({"sku": "bad sku!", "name": "", "price": "x"}, "EUR")
    assert set(result.errors) == {"sku", "name", "price"}
    assert not result.ok


@pytest.mark.parametrize("typed", ["", "-3", "2.5", "many"])
def test_stock_must_be_a_whole_number_of_zero_or_more(typed: str) -> None:
    assert "on_hand" in stock_body({"on_hand": typed}).errors


def test_stock_zero_is_fine() -> None:
    assert stock_body({"on_hand": "0"}).body == {"on_hand": 0}


def test_customer_switches() -> None:
    assert customer_update({"role": "admin"}).body == {"role": "admin"}
    assert customer_update({"disabled": "true"}).body == {"disabled": True}
    assert customer_update({"disabled": "false"}).body == {"disabled": False}
    assert "role" in customer_update({"role": "owner"}).errors
    assert FORM in customer_update({}).errors


def test_an_admin_cannot_lock_themselves_out() -> None:
    assert "disable your own" in (own_account_change({"disabled": True}, own=True) or "")
    assert "admin role" in (own_account_change({"role": "customer"}, own=True) or "")
    assert own_account_change({"disabled": True}, own=False) is None  # another admin may
    assert own_account_change({"role": "admin"}, own=True) is None


def test_categories_are_offered_by_their_full_name() -> None:
    categories = [
        {"id": "1", "name": "Home", "parent_id": None},
        {"id": "2", "name": "Kitchen", "parent_id": "1"},
        {"id": "3", "name": "Books", "parent_id": None},
    ]
    assert category_options(categories) == [("3", "Books"), ("1", "Home"), ("2", "Home / Kitchen")]
