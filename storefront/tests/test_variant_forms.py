"""The admin's option, variant, stock and location forms as API bodies (pure)."""

from __future__ import annotations

from emporium.storefront.admin.variant_forms import (
    location_body,
    options_body,
    options_rows,
    stock_changes,
    variant_body,
)

OPTIONS = [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["red"]}]


def test_options_are_typed_in_order_and_an_empty_row_removes_one() -> None:
    result = options_body(
        {"option_name_1": "Size", "option_values_1": "S, M ,L,", "option_name_2": "",
         "option_values_2": "", "option_name_3": "Colour", "option_values_3": "red"}
    )  # fmt: skip
    assert result.ok
    assert result.body == {
        "options": [
            {"name": "Size", "values": ["S", "M", "L"]},
            {"name": "Colour", "values": ["red"]},
        ]
    }
    assert options_rows(OPTIONS)[1] == {"name": "Colour", "values": "red"}
    assert len(options_rows(OPTIONS)) == 3


def test_an_option_without_values_or_twice_is_said_beside_it() -> None:
    result = options_body(
        {"option_name_1": "Size", "option_values_1": "S, s", "option_name_2": "size",
         "option_values_2": ""}
    )  # fmt: skip
    assert result.errors == {
        "option_values_1": "A value is there twice.",
        "option_name_2": "Another option already has this name.",
        "option_values_2": "Type its values, separated by commas.",
    }


def test_a_variant_with_its_options_and_a_price_per_currency() -> None:
    form = {"sku": "TEE-M-RED", "option.Size": "M", "option.Colour": "red", "price_EUR": "19,90",
            "price_USD": "", "price_GBP": "17.50", "weight_grams": "180"}  # fmt: skip
    result = variant_body(form, OPTIONS, ["EUR", "USD", "GBP"])
    assert result.ok
    assert result.body == {
        "sku": "TEE-M-RED",
        "options": {"Size": "M", "Colour": "red"},
        "prices": [{"amount": 1990, "currency": "EUR"}, {"amount": 1750, "currency": "GBP"}],
        "weight_grams": 180,
    }
    assert "weight_grams" not in variant_body({**form, "weight_grams": ""}, OPTIONS, ["EUR"],
                                              partial=True).body  # fmt: skip


def test_a_variant_needs_the_base_price_and_known_values() -> None:
    result = variant_body({"sku": "", "option.Size": "XL"}, OPTIONS, ["EUR"])
    assert set(result.errors) == {"sku", "options", "price_EUR"}


def test_only_changed_stock_is_sent_and_a_bad_number_is_named() -> None:
    result = stock_changes(
        {"on_hand_default": "3", "on_hand_vienna": "5"}, {"default": 3, "vienna": 0}
    )
    assert result.body == {"vienna": 5}
    assert stock_changes({"on_hand_default": "-1"}, {"default": 0}).errors


def test_a_location() -> None:
    assert location_body({"code": "vienna", "name": " Vienna ", "priority": "1"}).body == {
        "code": "vienna", "name": "Vienna", "priority": 1
    }  # fmt: skip
    assert set(location_body({"code": "Vienna!", "name": "", "priority": "x"}).errors) == {
        "code", "name", "priority"
    }  # fmt: skip
