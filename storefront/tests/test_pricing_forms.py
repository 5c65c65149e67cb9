"""The admin's pricing forms as API bodies, and the API's problems back beside the fields."""

from __future__ import annotations

import pytest

from emporium.storefront.admin.pricing_forms import (
    format_instant,
    parse_percent,
    promotion_body,
    promotion_values,
    rate_field,
    tax_rate_body,
    zone_body,
)
from emporium.storefront.admin.shipping import zone_feedback
from emporium.storefront.api import ApiProblem

CATEGORY = "0b5f3c1e-9a41-4c1e-8d0e-1a2b3c4d5e6f"


def test_a_zone_with_a_flat_rate_a_free_threshold_and_a_weight_band() -> None:
    result, rows = zone_body(
        {
            "name": "Austria",
            "countries": "at, ch;li",
            "rate-0-name": "Standard",
            "rate-0-amount": "4.90",
            "rate-0-currency": "eur",
            "rate-0-max_weight_grams": "5000",
            "rate-0-estimated_days": "3",
            "rate-2-name": "Standard",
            "rate-2-amount": "0",
            "rate-2-min_subtotal": "50",
        }
    )
    assert result.ok, result.errors
    assert result.body == {
        "name": "Austria",
        "countries": ["AT", "CH", "LI"],
        "rates": [
            {"name": "Standard", "amount": 490, "currency": "EUR", "min_subtotal": None,
             "max_weight_grams": 5000, "estimated_days": 3},
            {"name": "Standard", "amount": 0, "currency": "EUR", "min_subtotal": 5000,
             "max_weight_grams": None, "estimated_days": None},
        ],
    }  # fmt: skip
    assert rows == [0, 2]  # the rows the sent rates came from (row 1 was left empty)
    assert rate_field("body.rates.1.amount", rows) == "rate-2-amount"
    assert rate_field("body.countries.0", rows) is None


def test_a_zone_form_says_each_problem_beside_its_field() -> None:
    result, _ = zone_body({"countries": "Austria", "rate-1-name": "Express", "rate-1-amount": "x"})
    assert result.errors == {
        "name": "Enter a name.",
        "countries": "Enter two-letter country codes (ISO 3166), like AT, DE.",
        "rate-1-amount": "Enter the amount as a number, for example 12.50.",
    }
    assert zone_body({"name": "Nowhere", "countries": "AT"})[0].errors == {
        "rate-0-name": "Give the zone at least one rate."
    }


def test_the_apis_problem_with_a_rate_lands_on_that_rates_row() -> None:
    problem = ApiProblem(
        422,
        errors=[
            {"field": "body.rates.1.estimated_days", "message": "less than or equal to 365"},
            {"field": "body.countries.0", "message": "not an ISO 3166 country"},
        ],
    )
    feedback = zone_feedback(problem, [0, 3])
    assert feedback.get("rate-3-estimated_days") == "Enter 365 or less."
    assert feedback.get("countries") == "Choose a country from the list."


@pytest.mark.parametrize(
    ("typed", "points"), [("19", 1900), ("7,25", 725), ("20 %", 2000), ("0", 0)]
)
def test_a_rate_in_percent_is_sent_in_basis_points(typed: str, points: int) -> None:
    assert parse_percent(typed) == points


@pytest.mark.parametrize("typed", ["", "nineteen", "101", "7.255", "-1"])
def test_a_rate_that_is_not_one_is_refused_in_words(typed: str) -> None:
    with pytest.raises(ValueError, match=r"rate|percent|decimals"):
        parse_percent(typed)


def test_a_tax_rate_body() -> None:
    result = tax_rate_body({"name": "VAT", "country": "at", "rate": "20", "tax_class": ""})
    assert result.ok
    assert result.body == {
        "country": "AT", "region": None, "tax_class": "standard", "rate_bp": 2000, "name": "VAT"
    }  # fmt: skip
    bad = tax_rate_body({"name": "", "country": "", "rate": "x", "region": "toolong"})
    assert set(bad.errors) == {"name", "country", "rate", "region"}


def test_a_code_promotion_on_a_category_with_limits_and_a_window() -> None:
    result = promotion_body(
        {
            "name": "Welcome",
            "kind": "percentage",
            "value": "10",
            "code": "welcome10",
            "usage_limit": "100",
            "per_customer_limit": "1",
            "starts_at": "2026-12-01T09:30",
            "ends_at": "2026-12-31T23:00",
            "min_subtotal": "20",
        },
        [CATEGORY],
    )
    assert result.ok, result.errors
    assert result.body == {
        "name": "Welcome",
        "kind": "percentage",
        "value": 10,
        "currency": None,
        "code": "WELCOME10",
        "applies_to": {"categories": [CATEGORY], "products": []},
        "starts_at": "2026-12-01T09:30:00Z",
        "ends_at": "2026-12-31T23:00:00Z",
        "usage_limit": 100,
        "per_customer_limit": 1,
        "min_subtotal": 2000,
    }
    # The edit form shows it as it was typed.
    shown = promotion_values({**result.body, "id": "p"})
    assert (shown["value"], shown["starts_at"], shown["min_subtotal"]) == (
        "10",
        "2026-12-01T09:30",
        "20.00",
    )
    assert shown["categories"] == [CATEGORY]


def test_an_automatic_fixed_amount_on_the_whole_order() -> None:
    result = promotion_body({"name": "Five off", "kind": "fixed", "value": "5", "currency": ""}, [])
    assert result.ok
    assert (result.body["value"], result.body["currency"], result.body["applies_to"]) == (
        500,
        "EUR",
        None,
    )
    assert promotion_values(result.body)["value"] == "5.00"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"kind": "percentage", "value": "150"}, "value"),
        ({"kind": "percentage", "value": "5.5"}, "value"),
        ({"kind": "fixed", "value": "0"}, "value"),
        ({"kind": "", "value": "5"}, "kind"),
        ({"kind": "percentage", "value": "5", "code": "no spaces"}, "code"),
        ({"kind": "percentage", "value": "5", "usage_limit": "3"}, "usage_limit"),
        ({"kind": "percentage", "value": "5", "products": "not-an-id"}, "products"),
        (
            {"kind": "percentage", "value": "5", "starts_at": "2026-12-02T00:00",
             "ends_at": "2026-12-01T00:00"},
            "ends_at",
        ),
    ],
)  # fmt: skip
def test_a_promotion_form_names_the_field_to_fix(form: dict[str, str], field: str) -> None:
    result = promotion_body({"name": "Some", **form}, [])
    assert field in result.errors, result.errors


def test_times_are_shown_in_utc_for_the_datetime_inputs() -> None:
    assert format_instant("2026-12-01T10:00:00+01:00") == "2026-12-01T09:00"
    assert format_instant("2026-12-01T10:00:00Z") == "2026-12-01T10:00"
    assert format_instant(None) == ""
    assert format_instant("garbage") == ""
