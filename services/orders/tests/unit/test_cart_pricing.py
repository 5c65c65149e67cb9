"""How a cart is priced and what it drops: ``cart.quote.build_quote`` and ``cart.reconcile``
(pure: the rules are given, nothing is read)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from emporium.orders import pricing
from emporium.orders.cart.lines import PricedLine
from emporium.orders.cart.quote import Choices, Rules, build_quote
from emporium.orders.cart.reconcile import SHIPPING_METHOD_UNAVAILABLE, rate_notice
from emporium.orders.models import CartItem, ProductCopy
from emporium.orders.order.schemas import Address

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
INCLUSIVE = frozenset({"EUR", "GBP"})
ZONE_ID = uuid.uuid4()


def _line(
    price: int, quantity: int = 1, *, weight: int = 0, currency: str = "EUR", deleted: bool = False
) -> PricedLine:
    product_id = uuid.uuid4()
    item = CartItem(
        customer_id=uuid.uuid4(),
        product_id=product_id,
        quantity=quantity,
        seen_unit_amount=price,
        added_at=NOW,
    )
    product = ProductCopy(
        id=product_id,
        sku="SKU",
        name="Tea",
        price_amount=price,
        currency=currency,
        deleted=deleted,
        category_id=None,
        weight_grams=weight,
        tax_class="standard",
        source_time=NOW,
    )
    return PricedLine(item, product)


def _rate(
    name: str, amount: int, *, max_weight: int | None = None, min_subtotal: int | None = None
) -> pricing.Rate:
    return pricing.Rate(
        id=uuid.uuid4(),
        zone_id=ZONE_ID,
        name=name,
        amount=amount,
        currency="EUR",
        min_subtotal=min_subtotal,
        max_weight_grams=max_weight,
        estimated_days=3,
    )


def _zone(*rates: pricing.Rate, countries: tuple[str, ...] = ("DE",)) -> pricing.Zone:
    return pricing.Zone(id=ZONE_ID, name="Germany", countries=frozenset(countries), rates=rates)


def _address(country: str = "DE") -> Address:
    return Address(line1="1 Main Street", city="Berlin", postal_code="10115", country=country)


def _code(
    code: str = "TEN", *, percent: int = 10, min_subtotal: int | None = None
) -> pricing.Promotion:
    return pricing.Promotion(
        id=uuid.uuid4(),
        name="Ten off",
        kind="percentage",
        value=percent,
        currency=None,
        code=code,
        categories=frozenset(),
        products=frozenset(),
        starts_at=None,
        ends_at=None,
        usage_limit=None,
        per_customer_limit=None,
        min_subtotal=min_subtotal,
        used_count=0,
        created_at=NOW - timedelta(days=1),
    )


VAT = pricing.TaxRate(country="DE", region=None, tax_class="standard", rate_bp=1900, name="VAT")


def test_with_no_rules_a_cart_costs_the_sum_of_its_available_lines() -> None:
    quote = build_quote(
        [_line(1250, 2), _line(999), _line(500, deleted=True)],
        Choices(address=_address()),
        Rules(),
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    breakdown = quote.breakdown
    assert (breakdown.subtotal, breakdown.total, breakdown.tax) == (3499, 3499, 0)
    assert (quote.options, quote.ships, quote.dropped) == ([], False, [])


def test_the_chosen_rate_is_charged_while_it_is_offered() -> None:
    standard = _rate("Standard", 490)
    rules = Rules(zones=[_zone(standard)], chosen_rate=standard, tax_rates=[VAT])
    quote = build_quote(
        [_line(1190, 2)],
        Choices(_address(), standard.id),
        rules,
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert quote.ships
    assert quote.rate == standard
    assert quote.breakdown.total == 2 * 1190 + 490  # inclusive: prices and rate hold the VAT
    assert quote.breakdown.tax == 380 + 78  # 2380 * 19/119 and 490 * 19/119, half-even


def test_a_heavier_cart_drops_the_rate_of_the_lighter_band_and_says_why() -> None:
    light, heavy = _rate("Standard", 490, max_weight=1000), _rate("Standard", 890)
    rules = Rules(zones=[_zone(light, heavy)], chosen_rate=light)
    quote = build_quote(
        [_line(1000, 3, weight=400)],
        Choices(_address(), light.id),
        rules,
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert [o.id for o in quote.options] == [heavy.id]
    assert quote.rate is None
    assert quote.breakdown.shipping is None
    assert quote.rate_dropped is not None
    assert quote.rate_dropped.reason == SHIPPING_METHOD_UNAVAILABLE
    assert "up to 1000 g; the cart weighs 1200 g" in quote.rate_dropped.detail


def test_an_address_in_another_country_drops_the_rate() -> None:
    standard = _rate("Standard", 490)
    rules = Rules(zones=[_zone(standard)], chosen_rate=standard)
    quote = build_quote(
        [_line(1000)],
        Choices(_address("FR"), standard.id),
        rules,
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert (quote.options, quote.ships, quote.rate) == ([], False, None)
    assert quote.rate_dropped is not None
    assert "does not ship to FR" in quote.rate_dropped.detail


def test_a_code_under_its_minimum_subtotal_is_dropped_with_the_refusal() -> None:
    code = _code(min_subtotal=5000)
    quote = build_quote(
        [_line(3000)],
        Choices(_address(), None, "TEN"),
        Rules(code_promotion=code),
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert quote.promotion is None
    assert quote.breakdown.discounts == ()
    assert quote.code_dropped is not None
    assert quote.code_dropped.reason == "min_subtotal"
    assert quote.code_dropped.detail.startswith("TEN was removed: ")


def test_a_code_that_applies_discounts_the_lines() -> None:
    code = _code()
    quote = build_quote(
        [_line(3000)],
        Choices(None, None, "TEN"),
        Rules(code_promotion=code),
        tax_inclusive=frozenset(),
        now=NOW,
    )
    assert quote.promotion == code
    assert [(d.code, d.amount) for d in quote.breakdown.discounts] == [("TEN", 300)]
    assert quote.breakdown.total == 2700


def test_an_unknown_code_is_dropped_as_unknown() -> None:
    quote = build_quote(
        [_line(3000)], Choices(None, None, "GONE"), Rules(), tax_inclusive=INCLUSIVE, now=NOW
    )
    assert quote.code_dropped is not None
    assert quote.code_dropped.reason == "unknown"


def test_an_empty_cart_keeps_its_choices_and_costs_nothing() -> None:
    standard = _rate("Standard", 490)
    quote = build_quote(
        [],
        Choices(_address(), standard.id, "TEN"),
        Rules(),
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert quote.dropped == []
    assert (quote.breakdown.total, quote.options) == (0, [])


def test_lines_in_another_currency_are_not_priced() -> None:
    quote = build_quote(
        [_line(1000), _line(700, currency="USD")],
        Choices(),
        Rules(),
        tax_inclusive=INCLUSIVE,
        now=NOW,
    )
    assert (quote.currency, len(quote.priced), quote.breakdown.total) == ("EUR", 1, 1000)


def test_tax_needs_the_address() -> None:
    quote = build_quote(
        [_line(1000)], Choices(), Rules(tax_rates=[VAT]), tax_inclusive=frozenset(), now=NOW
    )
    assert quote.breakdown.tax == 0


@pytest.mark.parametrize(
    ("rate", "country", "subtotal", "weight", "expected"),
    [
        (None, "DE", 1000, 0, "no longer offered"),
        (_rate("Express", 990), None, 1000, 0, "needs a shipping address"),
        (_rate("Express", 990), "AT", 1000, 0, "does not ship to AT"),
        (_rate("Free", 0, min_subtotal=5000), "DE", 4999, 0, "at least 5000"),
        (_rate("Light", 490, max_weight=500), "DE", 1000, 501, "up to 500 g"),
        (_rate("Standard", 490), "DE", 1000, 0, "another rate of the shipping method"),
    ],
)
def test_a_dropped_rate_says_why(
    rate: pricing.Rate | None, country: str | None, subtotal: int, weight: int, expected: str
) -> None:
    rate_id = rate.id if rate is not None else uuid.uuid4()
    zones = [_zone(*(r for r in (rate,) if r is not None))]
    notice = rate_notice(
        rate_id,
        rate,
        offered=[],
        zones=zones,
        country=country,
        currency="EUR",
        subtotal=subtotal,
        weight_grams=weight,
    )
    assert notice is not None
    assert notice.reason == SHIPPING_METHOD_UNAVAILABLE
    assert expected in notice.detail


def test_an_offered_rate_has_no_notice() -> None:
    rate = _rate("Standard", 490)
    assert (
        rate_notice(
            rate.id,
            rate,
            offered=[rate],
            zones=[_zone(rate)],
            country="DE",
            currency="EUR",
            subtotal=0,
            weight_grams=0,
        )
        is None
    )
