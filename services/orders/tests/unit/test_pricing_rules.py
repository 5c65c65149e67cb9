"""Checkout pricing rules by named case: money, shipping options, codes, breakdowns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest

from emporium.orders.pricing import (
    Breakdown,
    Line,
    Promotion,
    Rate,
    TaxLine,
    TaxRate,
    Zone,
    allocate,
    automatic_applies,
    code_refusal,
    covers,
    price,
    round_half_even,
    shipping_options,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BOOKS, SHIRTS = uuid4(), uuid4()
MUG = uuid4()


def line(
    unit: int,
    quantity: int = 1,
    *,
    category: UUID | None = None,
    product: UUID | None = None,
    weight: int = 0,
    tax_class: str = "standard",
) -> Line:
    return Line(product or uuid4(), category, unit, quantity, weight, tax_class)


def rate(
    name: str,
    amount: int,
    *,
    currency: str = "EUR",
    min_subtotal: int | None = None,
    max_weight: int | None = None,
    zone: UUID | None = None,
) -> Rate:
    return Rate(uuid4(), zone or uuid4(), name, amount, currency, min_subtotal, max_weight, 3)


def tax(
    rate_bp: int,
    name: str,
    *,
    country: str = "DE",
    region: str | None = None,
    cls: str = "standard",
) -> TaxRate:
    return TaxRate(country, region, cls, rate_bp, name)


def promo(
    kind: Literal["percentage", "fixed"] = "percentage",
    value: int = 10,
    *,
    code: str | None = None,
    currency: str | None = None,
    categories: frozenset[UUID] = frozenset(),
    products: frozenset[UUID] = frozenset(),
    created_at: datetime = NOW - timedelta(days=30),
    **limits: Any,
) -> Promotion:
    fields: dict[str, Any] = {
        "starts_at": None,
        "ends_at": None,
        "usage_limit": None,
        "per_customer_limit": None,
        "min_subtotal": None,
        "used_count": 0,
    }
    fields.update(limits)
    name = code or f"{value}{'%' if kind == 'percentage' else ' off'}"
    return Promotion(
        id=uuid4(),
        name=name,
        kind=kind,
        value=value,
        currency=currency,
        code=code,
        categories=categories,
        products=products,
        created_at=created_at,
        **fields,
    )


def priced(
    lines: list[Line],
    *,
    currency: str = "EUR",
    inclusive: bool = False,
    shipping: Rate | None = None,
    taxes: tuple[TaxRate, ...] = (),
    automatic: tuple[Promotion, ...] = (),
    code: Promotion | None = None,
) -> Breakdown:
    breakdown = price(
        lines,
        currency=currency,
        tax_inclusive=inclusive,
        shipping=shipping,
        tax_rates=taxes,
        automatic=automatic,
        code=code,
        now=NOW,
    )
    shipping_amount = breakdown.shipping.amount if breakdown.shipping else 0
    # Every named case also keeps the identities the breakdown promises.
    assert (
        breakdown.subtotal - breakdown.discount + shipping_amount + breakdown.tax == breakdown.total
    )
    assert breakdown.tax == sum(tax_line.amount for tax_line in breakdown.tax_lines)
    return breakdown


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        pytest.param(5, 10, 0, id="half-to-even-zero"),
        pytest.param(15, 10, 2, id="one-and-a-half-up-to-two"),
        pytest.param(25, 10, 2, id="two-and-a-half-down-to-two"),
        pytest.param(14, 10, 1, id="below-half-down"),
        pytest.param(16, 10, 2, id="above-half-up"),
        pytest.param(-15, 10, -2, id="negative-half-to-even"),
        pytest.param(-25, 10, -2, id="negative-two-and-a-half"),
        pytest.param(1, 3, 0, id="one-third"),
        pytest.param(2, 3, 1, id="two-thirds"),
        pytest.param(0, 7, 0, id="zero"),
    ],
)
def test_rounding_is_half_even(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even(numerator, denominator) == expected


def test_rounding_refuses_a_zero_denominator() -> None:
    with pytest.raises(ValueError, match="denominator"):
        round_half_even(1, 0)


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        pytest.param(100, [1, 1, 1], [34, 33, 33], id="thirds-extra-unit-to-the-first"),
        pytest.param(2, [1, 1, 1], [1, 1, 0], id="two-units-over-three"),
        pytest.param(5, [1, 2], [2, 3], id="largest-remainder-wins"),
        pytest.param(10, [3, 0, 7], [3, 0, 7], id="zero-weight-gets-nothing"),
        pytest.param(0, [0, 0], [0, 0], id="nothing-over-nothing"),
        pytest.param(0, [], [], id="no-parts"),
    ],
)
def test_allocation_adds_up_by_largest_remainder(
    amount: int, weights: list[int], expected: list[int]
) -> None:
    assert allocate(amount, weights) == expected


def test_allocation_refuses_an_amount_over_zero_weights() -> None:
    with pytest.raises(ValueError, match="all zero"):
        allocate(1, [0, 0])


# --- shipping options ----------------------------------------------------------------------

EU = uuid4()
EU_RATES = (
    rate("Standard", 500, zone=EU),
    rate("Standard", 0, min_subtotal=5000, zone=EU),  # free over 50 EUR
    rate("Express", 2500, max_weight=20_000, zone=EU),
    rate("Express", 900, max_weight=1000, zone=EU),
    rate("Express", 1400, max_weight=5000, zone=EU),
    rate("Standard", 700, currency="USD", zone=EU),
)
ZONES = (
    Zone(EU, "EU", frozenset({"DE", "FR", "AT"}), EU_RATES),
    Zone(uuid4(), "US", frozenset({"US"}), (rate("Ground", 800, currency="USD"),)),
)


@pytest.mark.parametrize(
    ("country", "currency", "subtotal", "weight", "expected"),
    [
        pytest.param("DE", "EUR", 4999, 0, [("Standard", 500), ("Express", 900)], id="flat-rate"),
        pytest.param("DE", "EUR", 5000, 0, [("Standard", 0), ("Express", 900)], id="free-at-min"),
        pytest.param("FR", "EUR", 12_000, 0, [("Standard", 0), ("Express", 900)], id="free-over"),
        pytest.param("AT", "EUR", 100, 999, [("Standard", 500), ("Express", 900)], id="band-1"),
        pytest.param(
            "DE", "EUR", 100, 1000, [("Standard", 500), ("Express", 900)], id="band-1-edge"
        ),
        pytest.param("DE", "EUR", 100, 1001, [("Standard", 500), ("Express", 1400)], id="band-2"),
        pytest.param(
            "DE", "EUR", 100, 5000, [("Standard", 500), ("Express", 1400)], id="band-2-edge"
        ),
        pytest.param(
            "DE", "EUR", 100, 20_000, [("Standard", 500), ("Express", 2500)], id="band-3-edge"
        ),
        pytest.param("DE", "EUR", 100, 20_001, [("Standard", 500)], id="too-heavy-for-express"),
        pytest.param("DE", "USD", 100, 0, [("Standard", 700)], id="only-the-cart-currency"),
        pytest.param("US", "EUR", 100, 0, [], id="rate-in-another-currency"),
        pytest.param("US", "USD", 100, 0, [("Ground", 800)], id="other-zone"),
        pytest.param("JP", "EUR", 100, 0, [], id="no-zone-covers-the-country"),
    ],
)
def test_shipping_options_offer_the_cheapest_applicable_rate_of_each_method(
    country: str, currency: str, subtotal: int, weight: int, expected: list[tuple[str, int]]
) -> None:
    offered = shipping_options(
        ZONES, country=country, currency=currency, subtotal=subtotal, weight_grams=weight
    )
    assert [(option.name, option.amount) for option in offered] == expected


@pytest.mark.parametrize(
    ("country", "covered"),
    [pytest.param("DE", True, id="zone"), pytest.param("JP", False, id="no-zone")],
)
def test_a_country_is_covered_when_some_zone_lists_it(country: str, covered: bool) -> None:
    assert covers(ZONES, country) is covered


def test_a_tie_in_amount_offers_the_band_with_the_smallest_weight_limit() -> None:
    zone = uuid4()
    unlimited, small, large = (
        rate("Post", 500, zone=zone),
        rate("Post", 500, max_weight=2000, zone=zone),
        rate("Post", 500, max_weight=9000, zone=zone),
    )
    zones = [Zone(zone, "home", frozenset({"NZ"}), (unlimited, large, small))]
    offered = shipping_options(zones, country="NZ", currency="EUR", subtotal=0, weight_grams=10)
    assert offered == [small]


# --- codes ---------------------------------------------------------------------------------

CART = (line(3000, category=BOOKS), line(1000, category=SHIRTS, product=MUG))


@pytest.mark.parametrize(
    ("promotion", "uses", "reason", "detail"),
    [
        pytest.param(None, 0, "unknown", "no promotion", id="unknown"),
        pytest.param(
            promo(code="OLD", ends_at=NOW - timedelta(seconds=1)),
            0,
            "expired",
            "ended",
            id="expired",
        ),
        pytest.param(promo(code="OLD", ends_at=NOW), 0, "expired", "ended", id="expired-at-end"),
        pytest.param(
            promo(code="SOON", starts_at=NOW + timedelta(hours=1)),
            0,
            "not_started",
            "valid from",
            id="not-started",
        ),
        pytest.param(
            promo(code="FIVE", usage_limit=5, used_count=5),
            0,
            "used_up",
            "5 times",
            id="used-up-total",
        ),
        pytest.param(
            promo(code="ONCE", per_customer_limit=1),
            1,
            "used_up",
            "per customer",
            id="used-up-per-customer",
        ),
        pytest.param(
            promo(code="TWICE", per_customer_limit=2),
            2,
            "used_up",
            "2 times",
            id="used-up-per-customer-twice",
        ),
        pytest.param(
            promo(code="TOYS", categories=frozenset({uuid4()})),
            0,
            "not_eligible",
            "nothing in the cart",
            id="not-eligible-category",
        ),
        pytest.param(
            promo(code="ONE", products=frozenset({uuid4()})),
            0,
            "not_eligible",
            "nothing in the cart",
            id="not-eligible-product",
        ),
        pytest.param(
            promo("fixed", 500, code="USD5", currency="USD"),
            0,
            "not_eligible",
            "USD",
            id="not-eligible-currency",
        ),
        pytest.param(
            promo(code="BIG", min_subtotal=4001), 0, "min_subtotal", "4001", id="min-subtotal"
        ),
    ],
)
def test_a_code_is_refused_with_the_reason(
    promotion: Promotion | None, uses: int, reason: str, detail: str
) -> None:
    refusal = code_refusal(promotion, CART, currency="EUR", now=NOW, customer_uses=uses)
    assert refusal is not None
    assert refusal.reason == reason
    assert detail in refusal.detail


@pytest.mark.parametrize(
    ("promotion", "uses"),
    [
        pytest.param(promo(code="ALL"), 0, id="whole-order"),
        pytest.param(
            promo(code="NOW", starts_at=NOW, ends_at=NOW + timedelta(days=1)), 0, id="starts-now"
        ),
        pytest.param(promo(code="BOOK", categories=frozenset({BOOKS})), 0, id="category"),
        pytest.param(promo(code="MUG", products=frozenset({MUG})), 0, id="product"),
        pytest.param(promo("fixed", 500, code="EUR5", currency="EUR"), 0, id="fixed-same-currency"),
        pytest.param(promo(code="AT", min_subtotal=4000), 0, id="min-subtotal-exactly"),
        pytest.param(promo(code="LEFT", usage_limit=5, used_count=4), 0, id="one-use-left"),
        pytest.param(promo(code="AGAIN", per_customer_limit=2), 1, id="customer-has-one-left"),
    ],
)
def test_a_code_that_applies_is_not_refused(promotion: Promotion, uses: int) -> None:
    assert code_refusal(promotion, CART, currency="EUR", now=NOW, customer_uses=uses) is None


def test_a_code_on_an_empty_cart_is_not_eligible() -> None:
    refusal = code_refusal(promo(code="ANY"), [], currency="EUR", now=NOW, customer_uses=0)
    assert refusal is not None
    assert refusal.reason == "not_eligible"


@pytest.mark.parametrize(
    ("promotion", "applies"),
    [
        pytest.param(promo(), True, id="plain"),
        pytest.param(promo(ends_at=NOW), False, id="ended"),
        pytest.param(promo(starts_at=NOW + timedelta(minutes=1)), False, id="not-yet"),
        pytest.param(promo(usage_limit=3, used_count=3), False, id="used-up"),
        pytest.param(promo("fixed", 100, currency="GBP"), False, id="other-currency"),
        pytest.param(promo(categories=frozenset({uuid4()})), False, id="no-line"),
        pytest.param(promo(min_subtotal=10_000), False, id="below-min"),
    ],
)
def test_automatic_promotions_apply_only_within_their_conditions(
    promotion: Promotion, applies: bool
) -> None:
    assert automatic_applies(promotion, CART, currency="EUR", now=NOW) is applies


# --- breakdowns ----------------------------------------------------------------------------

VAT_DE = (tax(1900, "MwSt 19 %"), tax(700, "MwSt 7 %", cls="reduced"))


def test_eu_vat_inclusive_shows_net_figures_and_the_vat_included() -> None:
    book = line(1070, tax_class="reduced")  # 10.00 net + 7 %
    shirts = line(2380, 2)  # 2 x 20.00 net + 19 %
    breakdown = priced([book, shirts], inclusive=True, shipping=rate("DHL", 595), taxes=VAT_DE)
    assert breakdown.subtotal == 5000
    assert breakdown.shipping is not None
    assert breakdown.shipping.amount == 500
    assert breakdown.tax_lines == (TaxLine("MwSt 7 %", 700, 70), TaxLine("MwSt 19 %", 1900, 855))
    assert breakdown.total == 1070 + 4760 + 595  # what the shopper pays, as entered
    assert [(lt.entered, lt.tax, lt.total) for lt in breakdown.lines] == [
        (1070, 70, 1070),
        (4760, 760, 4760),
    ]


def test_eu_vat_inclusive_discount_is_the_net_it_takes_off() -> None:
    breakdown = priced(
        [line(11_900)], inclusive=True, taxes=VAT_DE, code=promo(code="TEN", value=10)
    )
    assert (breakdown.subtotal, breakdown.discount, breakdown.tax, breakdown.total) == (
        10_000,
        1000,
        1710,
        10_710,
    )
    assert breakdown.lines[0].discount == 1190  # in the entered (gross) price


def test_us_exclusive_adds_state_and_county_tax_as_separate_lines() -> None:
    state = tax(725, "California", country="US", region="CA")
    county = tax(225, "Los Angeles County", country="US", region="CA")
    breakdown = priced(
        [line(1999, 3), line(450)],
        currency="USD",
        shipping=rate("Ground", 800, currency="USD"),
        taxes=(state, county),
    )
    # Per line and rate, half-even: 434.7825 → 435, 134.9325 → 135, 32.625 → 33, 10.125 → 10.
    assert breakdown.tax_lines == (
        TaxLine("California", 725, 435 + 33 + 58),
        TaxLine("Los Angeles County", 225, 135 + 10 + 18),
    )
    assert (breakdown.subtotal, breakdown.tax, breakdown.total) == (6447, 689, 6447 + 800 + 689)
    assert [lt.tax for lt in breakdown.lines] == [570, 43]


def test_exclusive_country_and_region_rates_both_apply_country_first() -> None:
    gst = tax(500, "GST", country="CA")
    pst = tax(700, "PST British Columbia", country="CA", region="BC")
    other_class = tax(1300, "Luxury", country="CA", cls="luxury")
    breakdown = priced(
        [line(10_000)],
        currency="CAD",
        shipping=rate("Post", 1500, currency="CAD"),
        taxes=(pst, other_class, gst),
    )
    assert breakdown.tax_lines == (
        TaxLine("GST", 500, 575),
        TaxLine("PST British Columbia", 700, 805),
    )
    assert breakdown.total == 10_000 + 1500 + 575 + 805


def test_percentages_stack_before_fixed_amounts_then_the_code() -> None:
    # The fixed promotion is older, but percentages come first among automatic ones.
    fixed = promo("fixed", 500, currency="EUR", created_at=NOW - timedelta(days=60))
    percent = promo(value=10, created_at=NOW - timedelta(days=1))
    half = promo(value=50, code="HALF")
    breakdown = priced(list(CART), automatic=(fixed, percent), code=half)
    # 10 %: 300 + 100; 500 in proportion 2700:900 → 375 + 125; 50 % of 2325 and 775: 1162.5
    # and 387.5 round half to even (1162, 388).
    assert [(d.name, d.amount) for d in breakdown.discounts] == [
        ("10%", 400),
        ("500 off", 500),
        ("HALF", 1550),
    ]
    assert [lt.discount for lt in breakdown.lines] == [300 + 375 + 1162, 100 + 125 + 388]
    assert breakdown.total == 4000 - 2450


def test_automatic_promotions_of_one_kind_apply_by_creation_time() -> None:
    first = promo("fixed", 1000, currency="EUR", created_at=NOW - timedelta(days=2))
    second = promo("fixed", 5000, currency="EUR", created_at=NOW - timedelta(days=1))
    breakdown = priced([line(4000)], automatic=(second, first))
    assert [d.amount for d in breakdown.discounts] == [1000, 3000]  # the second gets what's left


def test_a_fixed_amount_larger_than_the_cart_is_capped_at_what_is_left() -> None:
    breakdown = priced(
        [line(1500), line(1000)],
        shipping=rate("Standard", 500),
        automatic=(promo("fixed", 10_000, currency="EUR"),),
        code=promo(value=20, code="MORE"),
    )
    assert [d.amount for d in breakdown.discounts] == [2500, 0]
    assert [(lt.discount, lt.total) for lt in breakdown.lines] == [(1500, 0), (1000, 0)]
    assert breakdown.total == 500  # shipping is never discounted


def test_a_fixed_amount_over_three_equal_lines_gives_the_extra_unit_to_the_first() -> None:
    breakdown = priced(
        [line(1000), line(1000), line(1000)], code=promo("fixed", 100, code="C", currency="EUR")
    )
    assert [lt.discount for lt in breakdown.lines] == [34, 33, 33]


def test_a_category_promotion_discounts_only_its_lines() -> None:
    breakdown = priced(list(CART), automatic=(promo(value=25, categories=frozenset({BOOKS})),))
    assert [lt.discount for lt in breakdown.lines] == [750, 0]


def test_a_zero_amount_line_takes_no_discount_and_no_tax() -> None:
    gift, paid = line(0, category=BOOKS), line(1000, category=BOOKS)
    breakdown = priced(
        [gift, paid],
        taxes=VAT_DE,
        automatic=(promo(value=10), promo("fixed", 300, currency="EUR")),
    )
    gift_totals = breakdown.lines[0]
    assert (gift_totals.entered, gift_totals.discount, gift_totals.tax, gift_totals.total) == (
        0,
        0,
        0,
        0,
    )
    assert breakdown.lines[1].discount == 400
    assert breakdown.tax == 114  # 19 % of 600


def test_a_code_that_does_not_apply_is_skipped_by_price() -> None:
    breakdown = priced([line(1000)], code=promo(code="OLD", ends_at=NOW))
    assert breakdown.discounts == ()
    assert breakdown.total == 1000


def test_a_promotion_given_twice_applies_once() -> None:
    twice = promo(value=10, code="TEN")
    breakdown = priced([line(1000)], automatic=(twice,), code=twice)
    assert [d.amount for d in breakdown.discounts] == [100]


def test_no_shipping_rate_means_no_charge_and_no_rate_no_tax() -> None:
    breakdown = priced([line(1234, 2)], inclusive=True)
    assert (breakdown.shipping, breakdown.tax, breakdown.tax_lines) == (None, 0, ())
    assert breakdown.subtotal == breakdown.total == 2468


def test_a_shipping_rate_in_another_currency_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="USD"):
        priced([line(100)], shipping=rate("Ground", 800, currency="USD"))


def test_a_negative_line_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        priced([line(-1)])


@pytest.mark.parametrize(
    "inclusive", [pytest.param(True, id="inclusive"), pytest.param(False, id="exclusive")]
)
@pytest.mark.parametrize(
    "shipped", [pytest.param(True, id="shipped"), pytest.param(False, id="unshipped")]
)
def test_a_breakdown_survives_its_json_form(inclusive: bool, shipped: bool) -> None:
    breakdown = priced(
        list(CART),
        inclusive=inclusive,
        shipping=rate("DHL", 595) if shipped else None,
        taxes=VAT_DE,
        automatic=(promo(value=5),),
        code=promo(code="TEN", value=10),
    )
    stored = json.loads(json.dumps(breakdown.to_json()))
    assert Breakdown.from_json(stored) == breakdown
    assert stored["discounts"][1]["code"] == "TEN"


@pytest.mark.parametrize(
    "promotion",
    [
        pytest.param(promo(value=150), id="percentage-over-100"),
        pytest.param(promo("fixed", 10**9, currency="EUR"), id="fixed-over-everything"),
    ],
)
def test_a_promotion_out_of_range_takes_at_most_everything(promotion: Promotion) -> None:
    breakdown = priced([line(999, 3)], taxes=VAT_DE, automatic=(promotion,))
    assert [d.amount for d in breakdown.discounts] == [2997]
    assert (breakdown.tax, breakdown.total) == (0, 0)
