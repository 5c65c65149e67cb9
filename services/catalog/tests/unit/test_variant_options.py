"""Product options, variants' combinations and the listing's option filters."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from emporium.catalog.variants.options import (
    MAX_LENGTH,
    Combination,
    OptionError,
    OptionFilters,
    ProductOption,
    duplicate_combinations,
    key,
    parse_option_filters,
    product_options,
    variant_combination,
)

SHIRT = product_options([(" Size ", ["S", "M", "L"]), ("Colour", ["Red", "Blue"])])


def test_options_are_trimmed_and_keep_their_order() -> None:
    assert SHIRT == (
        ProductOption("Size", ("S", "M", "L")),
        ProductOption("Colour", ("Red", "Blue")),
    )


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ([("size", ["S"]), ("SIZE", ["M"])], "options[1].name", "named twice"),
        ([("size", ["S", " s "])], "options[0].values[1]", "twice"),
        ([("  ", ["S"])], "options[0].name", "cannot be empty"),
        ([("size", [])], "options[0].values", "1 to 50 values"),
        ([("size", [str(n) for n in range(51)])], "options[0].values", "1 to 50 values"),
        ([("size", ["x" * (MAX_LENGTH + 1)])], "options[0].values[0]", "at most 50"),
        ([("si\tze", ["S"])], "options[0].name", "control characters"),
        ([(name, ["x"]) for name in "abcd"], "options", "at most 3 options"),
    ],
)
def test_bad_options_name_the_field(
    options: list[tuple[str, list[str]]], field: str, message: str
) -> None:
    with pytest.raises(OptionError, match=message) as raised:
        product_options(options)
    assert raised.value.field == field


def test_a_variant_gives_one_value_per_option_matched_case_insensitively() -> None:
    combination = variant_combination(SHIRT, {"colour": " red ", "SIZE": "m"})
    assert combination == Combination(("Size", "Colour"), ("M", "Red"))
    assert combination.as_mapping() == {"Size": "M", "Colour": "Red"}
    assert combination.key == ("m", "red")


@pytest.mark.parametrize(
    ("given_options", "field", "message"),
    [
        ({"Size": "M"}, "options.Colour", "a value of every option"),
        ({"Size": "XL", "Colour": "Red"}, "options.Size", "'XL' is not a value of 'Size'"),
        ({"Size": "M", "Colour": "Red", "Fit": "Slim"}, "options.Fit", "no such option"),
        ({"Size": "M", "size": "S", "Colour": "Red"}, "options.size", "given twice"),
    ],
)
def test_bad_variant_options_name_the_option(
    given_options: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(OptionError, match=message) as raised:
        variant_combination(SHIRT, given_options)
    assert raised.value.field == field


def test_a_product_without_options_has_one_empty_combination() -> None:
    assert variant_combination((), {}) == Combination((), ())
    assert duplicate_combinations([Combination((), ()), Combination((), ())]) == [
        Combination((), ())
    ]


def test_duplicate_combinations_are_found_by_key() -> None:
    first = variant_combination(SHIRT, {"Size": "S", "Colour": "Red"})
    other = variant_combination(SHIRT, {"Size": "M", "Colour": "Red"})
    again = variant_combination(SHIRT, {"size": "s", "colour": "RED"})
    assert duplicate_combinations([first, other, again]) == [again]
    assert duplicate_combinations([first, other]) == []


def test_filters_are_canonical_whatever_the_spelling_and_order() -> None:
    a = parse_option_filters(
        [("option.Size", "M"), ("q", "shirt"), ("option.colour", "red"), ("option.size", "l ")]
    )
    b = parse_option_filters([("option.COLOUR", "Red"), ("option.size", "L"), ("option.size", "m")])
    assert a == b
    assert hash(a) == hash(b)
    assert dict(a) == {"colour": frozenset({"red"}), "size": frozenset({"l", "m"})}
    assert parse_option_filters([("sort", "name")]) == OptionFilters()


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ([("option.", "M")], "option.", "name cannot be empty"),
        ([("option. ", "M")], "option. ", "name cannot be empty"),
        ([("option.size", " ")], "option.size", "value cannot be empty"),
        ([("option." + "n" * 51, "M")], "option." + "n" * 51, "at most 50"),
        ([("option.si\nze", "M")], "option.si\nze", "control characters"),
        ([(f"option.{n}", "x") for n in "abcd"], "option.d", "at most 3 option names"),
        ([("option.size", str(n)) for n in range(51)], "option.size", "at most 50 values"),
    ],
)
def test_malformed_filters_name_the_parameter(
    params: list[tuple[str, str]], field: str, message: str
) -> None:
    with pytest.raises(OptionError, match=message) as raised:
        parse_option_filters(params)
    assert raised.value.field == field


def test_filters_are_or_within_a_name_and_and_across_names_on_one_variant() -> None:
    variants = [{"Size": "S", "Colour": "Red"}, {"Size": "M", "Colour": "Blue"}]
    assert parse_option_filters([("option.size", "S"), ("option.size", "L")]).matches(variants)
    assert parse_option_filters([("option.colour", "blue"), ("option.size", "M")]).matches(variants)
    # A red S and a blue M are no red M.
    assert not parse_option_filters([("option.colour", "red"), ("option.size", "M")]).matches(
        variants
    )
    assert not parse_option_filters([("option.fit", "slim")]).matches(variants)
    assert OptionFilters().matches([])


words = st.text(alphabet="abcAB ß", min_size=1, max_size=5).filter(lambda s: s.strip())


@given(st.lists(st.tuples(words, words), max_size=8), st.randoms())
def test_filters_do_not_depend_on_parameter_order_or_case(
    pairs: list[tuple[str, str]], rnd: random.Random
) -> None:
    assume(len({key(name) for name, _ in pairs}) <= 3)
    params = [(f"option.{name}", value) for name, value in pairs]
    shuffled = [(n.upper(), v.swapcase()) for n, v in params]
    rnd.shuffle(shuffled)
    shuffled = [("option." + n[len("OPTION.") :], v) for n, v in shuffled]
    assert parse_option_filters(params) == parse_option_filters(shuffled)
