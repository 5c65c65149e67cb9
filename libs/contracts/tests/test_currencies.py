from __future__ import annotations

import re

import pytest

from emporium.contracts import currencies
from emporium.contracts.currencies import CURRENCY_CODES, MINOR_UNITS, currency_code, minor_units


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("CLP", 0),
        ("VND", 0),
        ("XAF", 0),
        ("XOF", 0),
        ("XPF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("LYD", 3),
        ("IQD", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("HUF", 2),
        ("IDR", 2),
        ("MGA", 2),
        ("MRU", 2),
    ],
)
def test_known_minor_units(code: str, exponent: int) -> None:
    assert minor_units(code) == exponent


def test_every_code_is_three_upper_case_letters_with_a_sane_exponent() -> None:
    assert len(CURRENCY_CODES) > 150
    for code, exponent in MINOR_UNITS.items():
        assert re.fullmatch(r"[A-Z]{3}", code), code
        assert exponent in {0, 2, 3, 4}, code


def test_a_code_listed_under_two_exponents_is_refused() -> None:
    with pytest.raises(ValueError, match="EUR is listed twice"):
        currencies._table("2: EUR USD\n3: EUR")


def test_replaced_and_unit_less_codes_are_not_prices() -> None:
    for gone in ("ANG", "ZWL", "SLL", "HRK", "CUC", "BGN", "MRO", "STD", "VEF"):
        assert gone not in CURRENCY_CODES
    for unitless in ("XAU", "XAG", "XDR", "XTS", "XXX"):
        assert unitless not in CURRENCY_CODES
    for successor in ("XCG", "ZWG", "SLE", "VES", "VED", "MRU", "STN"):
        assert successor in CURRENCY_CODES


@pytest.mark.parametrize(("given", "canonical"), [("eur", "EUR"), (" Usd ", "USD"), ("JPY", "JPY")])
def test_currency_code_is_canonical_upper_case(given: str, canonical: str) -> None:
    assert currency_code(given) == canonical


@pytest.mark.parametrize("bad", ["", "EU", "EURO", "E1R", "ZZZ", "XAU", "€", "E U"])
def test_currency_code_refuses_what_is_not_a_currency(bad: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        currency_code(bad)


def test_minor_units_of_an_unknown_code_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        minor_units("ABC")
