"""The product page's choice of variant, and a line's options in words (pure)."""

from __future__ import annotations

from typing import Any

from emporium.storefront.variants import (
    asked_currency,
    choose_variant,
    chosen_options,
    option_query,
    options_label,
    purchasable,
    variant_of,
    with_variants,
)

OPTIONS = [
    {"name": "Size", "values": ["S", "M", "L"]},
    {"name": "colour", "values": ["red", "blue"]},
]


def _variant(vid: str, size: str, colour: str, *, stock: int = 5, price: int | None = 1900) -> Any:
    return {
        "id": vid,
        "sku": f"TEE-{size}-{colour}",
        "options": {"Size": size, "colour": colour},
        "price": None if price is None else {"amount": price, "currency": "EUR"},
        "availability": {"in_stock": stock > 0, "available": stock},
    }


PRODUCT = {
    "id": "p",
    "options": OPTIONS,
    "variants": [
        _variant("a", "S", "red", stock=0),
        _variant("b", "S", "blue"),
        _variant("c", "M", "red", price=2100),
        _variant("d", "L", "blue", price=None),
    ],
}


def test_the_query_picks_values_case_insensitively_and_ignores_what_the_product_lacks() -> None:
    pairs = [("option.size", "m"), ("option.COLOUR", "Red"), ("option.fit", "slim"), ("q", "x")]
    assert chosen_options(pairs, OPTIONS) == {"Size": "M", "colour": "red"}
    assert chosen_options([("option.size", "XXL")], OPTIONS) == {}


def test_the_chosen_values_name_one_variant_even_a_sold_out_one() -> None:
    assert choose_variant(PRODUCT, {"Size": "M", "colour": "red"})["id"] == "c"  # type: ignore[index]
    sold_out = choose_variant(PRODUCT, {"Size": "S", "colour": "red"})
    assert sold_out is not None
    assert sold_out["id"] == "a"
    assert not purchasable(sold_out)


def test_values_not_chosen_yet_prefer_a_variant_that_can_be_bought() -> None:
    assert choose_variant(PRODUCT, {})["id"] == "b"  # type: ignore[index]
    assert choose_variant(PRODUCT, {"Size": "S"})["id"] == "b"  # type: ignore[index]


def test_a_combination_nobody_made_is_none_and_no_price_is_not_purchasable() -> None:
    assert choose_variant(PRODUCT, {"Size": "M", "colour": "blue"}) is None
    assert not purchasable(variant_of(PRODUCT, "d"))
    assert variant_of(PRODUCT, "zz") is None


def test_a_product_without_variants_is_its_own_single_variant() -> None:
    plain = {"id": "p", "sku": "MUG", "price": {"amount": 900, "currency": "EUR"},
             "availability": {"in_stock": True, "available": 3}}  # fmt: skip
    single = choose_variant(with_variants(plain), {})
    assert single is not None
    assert single["id"] == "p"
    assert purchasable(single)


def test_options_in_words_and_as_the_pages_query() -> None:
    assert options_label({"size": "M", "colour": "red"}) == "Size M, Colour red"
    assert options_label({}) == ""
    assert options_label(None) == ""
    assert (
        option_query({"size": "M", "colour": "dark red"}) == "option.size=M&option.colour=dark+red"
    )


def test_a_currency_from_the_query() -> None:
    assert asked_currency(" usd ") == "USD"
    assert asked_currency("") is None
    assert asked_currency("euro") is None
