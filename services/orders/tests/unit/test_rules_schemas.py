"""What the rules' admin API accepts, as the admin would see it: named cases of each rule of
``rules.schemas``, a change merged into a promotion, and how a region is spelled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from emporium.orders.rules.schemas import (
    MAX_AMOUNT,
    PROMOTION_IN,
    PromotionUpdate,
    ShippingZoneIn,
    TaxRateIn,
)
from emporium.orders.rules.service import PromotionConflict, merged
from emporium.orders.rules.tax import region_code

RATE = {"name": "Standard", "amount": 990, "currency": "EUR"}
ZONE = {"name": "Nordics", "countries": ["IS"], "rates": [RATE]}
PERCENT = {"name": "Ten off", "kind": "percentage", "value": 10}
FIXED = {"name": "Five off", "kind": "fixed", "value": 500, "currency": "EUR"}


def _refused(model: Any, data: dict[str, Any]) -> list[str]:
    """The fields (dotted) pydantic names, with its messages."""
    with pytest.raises(ValidationError) as caught:
        model.validate_python(data) if model is PROMOTION_IN else model.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("case", "data", "fault"),
    [
        ("not a country code", ZONE | {"countries": ["UK"]}, "countries.0"),
        ("lower case country", ZONE | {"countries": ["is"]}, "countries.0"),
        ("no country", ZONE | {"countries": []}, "countries"),
        ("no rate", ZONE | {"rates": []}, "rates"),
        ("blank name", ZONE | {"name": "   "}, "name"),
        ("name with a control character", ZONE | {"name": "North\x00"}, "name"),
        ("name over 100", ZONE | {"name": "n" * 101}, "name"),
        ("negative amount", ZONE | {"rates": [RATE | {"amount": -1}]}, "rates.0.amount"),
        ("amount of 2**53", ZONE | {"rates": [RATE | {"amount": 2**53}]}, "rates.0.amount"),
        ("currency not ISO 4217", ZONE | {"rates": [RATE | {"currency": "EURO"}]}, "rates.0"),
        ("negative weight", ZONE | {"rates": [RATE | {"max_weight_grams": -1}]}, "rates.0"),
        ("a year of delivery", ZONE | {"rates": [RATE | {"estimated_days": 366}]}, "rates.0"),
    ],
)
def test_a_bad_zone_is_refused_naming_the_field(
    case: str, data: dict[str, Any], fault: str
) -> None:
    faults = _refused(ShippingZoneIn, data)
    assert any(f.startswith(fault) for f in faults), (case, faults)


def test_a_zone_keeps_each_country_once_and_every_rate_field() -> None:
    rate = RATE | {"min_subtotal": 0, "max_weight_grams": 5000, "estimated_days": 0}
    zone = ShippingZoneIn.model_validate(
        ZONE | {"countries": ["IS", "NZ", "IS"], "rates": [rate, RATE | {"amount": MAX_AMOUNT}]}
    )
    assert zone.countries == ["IS", "NZ"]
    assert zone.rates[0].model_dump() == rate
    assert zone.rates[1].amount == 2**53 - 1


@pytest.mark.parametrize(
    ("case", "data", "fault"),
    [
        ("rate over 100 %", {"rate_bp": 10001}, "rate_bp"),
        ("negative rate", {"rate_bp": -1}, "rate_bp"),
        ("region with its country", {"region": "US-CA"}, "region"),
        ("tax class in capitals", {"tax_class": "Reduced"}, "tax_class"),
        ("no name", {"name": ""}, "name"),
        ("not a country", {"country": "XX"}, "country"),
    ],
)
def test_a_bad_tax_rate_is_refused_naming_the_field(
    case: str, data: dict[str, Any], fault: str
) -> None:
    faults = _refused(TaxRateIn, {"country": "IS", "rate_bp": 2400, "name": "VAT"} | data)
    assert any(f.startswith(fault) for f in faults), (case, faults)


def test_a_tax_rate_is_standard_and_country_wide_unless_said() -> None:
    rate = TaxRateIn.model_validate({"country": "US", "rate_bp": 0, "name": "Sales tax"})
    assert (rate.region, rate.tax_class) == (None, "standard")
    full = TaxRateIn.model_validate(
        {"country": "US", "region": "CA", "tax_class": "food", "rate_bp": 10000, "name": "S"}
    )
    assert (full.region, full.tax_class, full.rate_bp) == ("CA", "food", 10000)


@pytest.mark.parametrize(
    ("case", "data", "message"),
    [
        ("101 %", PERCENT | {"value": 101}, "percentage.value: Input should be less than or"),
        ("0 %", PERCENT | {"value": 0}, "percentage.value: Input should be greater than or"),
        ("12.5 %", PERCENT | {"value": 12.5}, "percentage.value: Input should be a valid int"),
        ("a percentage as text", PERCENT | {"value": "12"}, "percentage.value"),
        ("a percentage of true", PERCENT | {"value": True}, "percentage.value"),
        ("a percentage in a currency", PERCENT | {"currency": "EUR"}, "percentage.currency"),
        ("fixed without a currency", FIXED | {"currency": None}, "fixed.currency"),
        ("fixed of nothing", FIXED | {"value": 0}, "greater than or equal to 1"),
        ("fixed beyond 2**53", FIXED | {"value": 2**53}, "less than or equal to"),
        ("unknown kind", PERCENT | {"kind": "bogo"}, "'percentage', 'fixed'"),
        ("a Unix time", PERCENT | {"starts_at": 1767225600}, "RFC 3339 string"),
        (
            "ends before it starts",
            PERCENT | {"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
            "`ends_at` must be after `starts_at`",
        ),
        (
            "ends as it starts",
            PERCENT | {"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-01T01:00:00+01:00"},
            "`ends_at` must be after `starts_at`",
        ),
        ("a time without a zone", PERCENT | {"starts_at": "2026-12-01T00:00:00"}, "timezone"),
        ("automatic with a total limit", PERCENT | {"usage_limit": 5}, "a `code`"),
        ("automatic with a customer limit", PERCENT | {"per_customer_limit": 1}, "a `code`"),
        ("a limit of 0", PERCENT | {"code": "A", "usage_limit": 0}, "greater than or equal"),
        ("a code with a space", PERCENT | {"code": "TEN OFF"}, "pattern"),
        ("a code of 65", PERCENT | {"code": "A" * 65}, "pattern"),
        ("a category that is no id", PERCENT | {"applies_to": {"categories": ["x"]}}, "UUID"),
        ("a negative minimum", PERCENT | {"min_subtotal": -1}, "greater than or equal"),
    ],
)
def test_a_bad_promotion_is_refused_saying_why(
    case: str, data: dict[str, Any], message: str
) -> None:
    faults = _refused(PROMOTION_IN, data)
    assert any(message in f for f in faults), (case, faults)


def test_a_promotion_s_code_is_upper_case_and_its_times_utc() -> None:
    promotion = PROMOTION_IN.validate_python(
        FIXED
        | {
            "code": "Spring_26-x",
            "starts_at": "2026-03-01T00:00:00+01:00",
            "usage_limit": 1,
            "per_customer_limit": 1,
            "applies_to": {"categories": [str(uuid.UUID(int=1))]},
        }
    )
    assert promotion.code == "SPRING_26-X"
    assert promotion.starts_at == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert promotion.starts_at.utcoffset() is not None
    assert promotion.applies_to is not None
    assert promotion.applies_to.products == []
    assert PROMOTION_IN.validate_python(PERCENT | {"value": 100.0}).value == 100
    # Within a day of the ends of time, a time is that end (UTC cannot hold it otherwise).
    edge = PROMOTION_IN.validate_python(PERCENT | {"starts_at": "0001-01-01T00:00:00+01:00"})
    assert edge.starts_at == datetime.min.replace(tzinfo=UTC)


CURRENT = PROMOTION_IN.validate_python(
    FIXED | {"code": "FIVE", "usage_limit": 3, "ends_at": "2027-06-01T00:00:00Z"}
).model_dump()


def test_a_change_is_merged_into_the_promotion() -> None:
    change = PromotionUpdate.model_validate({"value": 700, "ends_at": "2027-01-01T00:00:00Z"})
    result = merged(CURRENT, change)
    assert (result.value, result.currency, result.code, result.usage_limit) == (
        700,
        "EUR",
        "FIVE",
        3,
    )
    assert result.ends_at == datetime(2027, 1, 1, tzinfo=UTC)
    # null clears; fields not sent stay.
    cleared = merged(CURRENT, PromotionUpdate.model_validate({"usage_limit": None}))
    assert (cleared.usage_limit, cleared.value) == (None, 500)
    switched = merged(
        CURRENT,
        PromotionUpdate.model_validate({"kind": "percentage", "value": 20, "currency": None}),
    )
    assert (switched.kind, switched.value, switched.currency) == ("percentage", 20, None)


@pytest.mark.parametrize(
    ("case", "change", "field"),
    [
        ("a percentage keeping the currency", {"kind": "percentage", "value": 5}, "body.currency"),
        ("a percentage keeping 500", {"kind": "percentage", "currency": None}, "body.value"),
        ("ending before it starts", {"starts_at": "2999-01-01T00:00:00Z"}, "body"),
        ("dropping the code of a limited one", {"code": None}, "body"),
        ("clearing the name", {"name": None}, "body.name"),
        ("clearing the value", {"value": None}, "body.value"),
    ],
)
def test_a_change_that_leaves_the_promotion_invalid_is_refused(
    case: str, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(PromotionConflict) as caught:
        merged(CURRENT, PromotionUpdate.model_validate(change))
    problem = caught.value
    assert problem.status == 409
    assert field in [e["field"] for e in problem.extra["errors"]], (case, problem.extra)


@pytest.mark.parametrize(
    ("country", "region", "stored"),
    [
        ("US", "CA", "CA"),
        ("US", "ca", "CA"),
        ("US", "US-CA", "CA"),
        ("US", " us-ca ", "CA"),
        ("MX", "US-CA", "US-CA"),  # another country's prefix is not dropped: matches nothing
        ("US", None, None),
        ("US", "  ", None),
    ],
)
def test_a_region_is_matched_as_the_table_spells_it(
    country: str, region: str | None, stored: str | None
) -> None:
    assert region_code(country, region) == stored
