"""Checkout pricing over generated carts, rates, taxes and promotions (hypothesis).

Besides the breakdown's identities, every result is compared with a small reference written
here with ``fractions.Fraction``: exact shares, rounded half-even by ``round`` (which rounds a
Fraction's halves to even), per line and rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Literal
from uuid import uuid4

from hypothesis import event, given, settings
from hypothesis import strategies as st

from emporium.orders.pricing import Breakdown, Line, Promotion, Rate, TaxRate, price

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PRODUCTS = tuple(uuid4() for _ in range(6))
CATEGORIES = tuple(uuid4() for _ in range(3))
TAX_CLASSES = ("standard", "reduced", "zero")
CURRENCIES = ("EUR", "USD")

EXAMPLES = settings(max_examples=200, deadline=None)

lines_st = st.lists(
    st.builds(
        Line,
        product_id=st.sampled_from(PRODUCTS),
        category_id=st.none() | st.sampled_from(CATEGORIES),
        unit_amount=st.integers(0, 10**7),
        quantity=st.integers(1, 99),
        weight_grams=st.integers(0, 5000),
        tax_class=st.sampled_from(TAX_CLASSES),
    ),
    min_size=1,
    max_size=8,
)

tax_rates_st = st.lists(
    st.builds(
        TaxRate,
        country=st.just("XX"),
        region=st.none() | st.just("R1"),
        tax_class=st.sampled_from(TAX_CLASSES),
        rate_bp=st.integers(0, 3000),
        name=st.sampled_from(("VAT", "State", "County", "City")),
    ),
    max_size=3,
)

DAY = timedelta(days=1)
# Half the promotions are valid (window, limit, currency, minimum), so that stacking is
# exercised; the others may fail any condition, so that skipping is too.


@dataclass(frozen=True)
class Conditions:
    starts: st.SearchStrategy[datetime | None]
    ends: st.SearchStrategy[datetime | None]
    limit: st.SearchStrategy[int | None]
    minimum: st.SearchStrategy[int | None]


VALID = Conditions(
    starts=st.sampled_from((None, NOW - DAY, NOW)),
    ends=st.sampled_from((None, NOW + DAY)),
    limit=st.sampled_from((None, 3)),
    minimum=st.none() | st.just(0),
)
ANY = Conditions(
    starts=st.sampled_from((None, NOW - DAY, NOW, NOW + DAY)),
    ends=st.sampled_from((None, NOW + DAY, NOW - DAY, NOW)),
    limit=st.sampled_from((None, 0, 1, 3)),
    minimum=st.none() | st.integers(0, 2 * 10**7),
)
KINDS: tuple[Literal["percentage", "fixed"], ...] = ("percentage", "fixed")


@st.composite
def promotions(draw: st.DrawFn, *, code: str | None, currency: str) -> Promotion:
    kind = draw(st.sampled_from(KINDS))
    valid = draw(st.booleans())
    choose = VALID if valid else ANY
    return Promotion(
        id=uuid4(),
        name=code or f"auto-{kind}",
        kind=kind,
        value=draw(st.integers(1, 100) if kind == "percentage" else st.integers(0, 10**8)),
        currency=None
        if kind == "percentage"
        else currency
        if valid
        else draw(st.sampled_from(CURRENCIES)),
        code=code,
        categories=draw(
            st.just(frozenset()) | st.frozensets(st.sampled_from(CATEGORIES), min_size=1)
        ),
        products=draw(st.just(frozenset()) | st.frozensets(st.sampled_from(PRODUCTS), min_size=1)),
        starts_at=draw(choose.starts),
        ends_at=draw(choose.ends),
        usage_limit=draw(choose.limit),
        per_customer_limit=None,
        min_subtotal=draw(choose.minimum),
        used_count=draw(st.integers(0, 2)),
        created_at=NOW - timedelta(minutes=draw(st.integers(0, 10_000))),
    )


@dataclass(frozen=True)
class Cart:
    lines: list[Line]
    currency: str
    inclusive: bool
    shipping: Rate | None
    tax_rates: list[TaxRate]
    automatic: list[Promotion]
    code: Promotion | None

    def priced(self) -> Breakdown:
        return price(
            self.lines,
            currency=self.currency,
            tax_inclusive=self.inclusive,
            shipping=self.shipping,
            tax_rates=self.tax_rates,
            automatic=self.automatic,
            code=self.code,
            now=NOW,
        )


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    currency = draw(st.sampled_from(CURRENCIES))
    shipping = draw(
        st.none()
        | st.builds(
            Rate,
            id=st.just(uuid4()),
            zone_id=st.just(uuid4()),
            name=st.just("Standard"),
            amount=st.integers(0, 10**5),
            currency=st.just(currency),
            min_subtotal=st.none(),
            max_weight_grams=st.none(),
            estimated_days=st.none(),
        )
    )
    return Cart(
        lines=draw(lines_st),
        currency=currency,
        inclusive=draw(st.booleans()),
        shipping=shipping,
        tax_rates=draw(tax_rates_st),
        automatic=draw(st.lists(promotions(code=None, currency=currency), min_size=1, max_size=3)),
        code=draw(
            st.none()
            | promotions(code="CODE", currency=currency)
            | promotions(code="CODE", currency=currency)
        ),
    )


# --- the reference -------------------------------------------------------------------------


def largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    quotas = [Fraction(amount * weight, total) for weight in weights]
    parts = [int(quota) for quota in quotas]  # quotas are not negative: int() floors
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[: amount - sum(parts)]:
        parts[i] += 1
    return parts


def reference_applies(promotion: Promotion, cart: Cart) -> bool:
    def on(line: Line) -> bool:
        everything = not promotion.categories and not promotion.products
        return (
            everything
            or line.product_id in promotion.products
            or (line.category_id in promotion.categories)
        )

    return (
        (promotion.starts_at is None or promotion.starts_at <= NOW)
        and (promotion.ends_at is None or NOW < promotion.ends_at)
        and (promotion.usage_limit is None or promotion.used_count < promotion.usage_limit)
        and (promotion.kind == "percentage" or promotion.currency == cart.currency)
        and any(on(line) for line in cart.lines)
        and (
            promotion.min_subtotal is None
            or sum(line.unit_amount * line.quantity for line in cart.lines)
            >= promotion.min_subtotal
        )
    )


def reference_left(cart: Cart) -> list[list[int]]:
    """What is left on each line before the first promotion and after each that applies."""
    autos = sorted(cart.automatic, key=lambda p: (p.kind == "fixed", p.created_at))
    stack = [p for p in [*autos, cart.code] if p is not None and reference_applies(p, cart)]
    left = [line.unit_amount * line.quantity for line in cart.lines]
    steps = [left]
    for promotion in stack:
        whole = not promotion.categories and not promotion.products
        base = [
            amount
            if whole
            or line.product_id in promotion.products
            or line.category_id in promotion.categories
            else 0
            for line, amount in zip(cart.lines, left, strict=True)
        ]
        if promotion.kind == "percentage":
            off = [round(Fraction(amount * promotion.value, 100)) for amount in base]
        else:
            off = largest_remainder(min(promotion.value, sum(base)), base)
        left = [amount - taken for amount, taken in zip(left, off, strict=True)]
        steps.append(left)
    return steps


def reference_tax(amount: int, rates: Sequence[int], inclusive: bool) -> list[int]:
    if not inclusive:
        return [round(Fraction(amount * bp, 10_000)) for bp in rates]
    combined = sum(rates)
    return largest_remainder(round(Fraction(amount * combined, 10_000 + combined)), rates)


@dataclass(frozen=True)
class Expected:
    subtotal: int
    discounts: list[int]
    shipping: int | None
    tax: int
    total: int
    line_totals: list[int]


def reference(cart: Cart) -> Expected:
    def rates(tax_class: str) -> list[int]:
        return [
            r.rate_bp
            for r in sorted(cart.tax_rates, key=lambda r: r.region is not None)
            if r.tax_class == tax_class
        ]

    def shown(index: int, amount: int) -> int:
        if not cart.inclusive:
            return amount
        return amount - sum(reference_tax(amount, rates(cart.lines[index].tax_class), True))

    steps = reference_left(cart)
    net = [[shown(i, amount) for i, amount in enumerate(step)] for step in steps]
    final = steps[-1]
    line_tax = [
        sum(reference_tax(amount, rates(line.tax_class), cart.inclusive))
        for line, amount in zip(cart.lines, final, strict=True)
    ]
    shipping_tax = 0
    shipping_shown: int | None = None
    shipping_gross = 0
    if cart.shipping is not None:
        shipping_tax = sum(reference_tax(cart.shipping.amount, rates("standard"), cart.inclusive))
        if cart.inclusive:
            shipping_shown, shipping_gross = (
                cart.shipping.amount - shipping_tax,
                cart.shipping.amount,
            )
        else:
            shipping_shown = cart.shipping.amount
            shipping_gross = cart.shipping.amount + shipping_tax
    line_totals = [
        amount if cart.inclusive else amount + tax
        for amount, tax in zip(final, line_tax, strict=True)
    ]
    return Expected(
        subtotal=sum(net[0]),
        discounts=[sum(before) - sum(after) for before, after in pairwise(net)],
        shipping=shipping_shown,
        tax=sum(line_tax) + shipping_tax,
        total=sum(line_totals) + shipping_gross,
        line_totals=line_totals,
    )


# --- the properties ------------------------------------------------------------------------


@EXAMPLES
@given(carts())
def test_the_breakdown_adds_up_to_the_minor_unit(cart: Cart) -> None:
    breakdown = cart.priced()
    shipping = breakdown.shipping.amount if breakdown.shipping else 0
    assert breakdown.subtotal - breakdown.discount + shipping + breakdown.tax == breakdown.total
    assert breakdown.tax == sum(line.amount for line in breakdown.tax_lines)
    gross_shipping = (
        0
        if cart.shipping is None
        else shipping + (breakdown.tax - sum(line.tax for line in breakdown.lines))
    )
    assert sum(line.total for line in breakdown.lines) + gross_shipping == breakdown.total
    assert breakdown.shipping_gross == gross_shipping
    assert Breakdown.from_json(breakdown.to_json()) == breakdown


@EXAMPLES
@given(carts())
def test_no_amount_is_negative_and_no_discount_exceeds_what_was_left(cart: Cart) -> None:
    breakdown = cart.priced()
    figures = [breakdown.subtotal, breakdown.tax, breakdown.total, breakdown.shipping_gross]
    figures += [d.amount for d in breakdown.discounts] + [t.amount for t in breakdown.tax_lines]
    figures += [breakdown.shipping.amount] if breakdown.shipping else []
    for line in breakdown.lines:
        figures += [line.entered, line.discount, line.tax, line.total]
        assert line.discount <= line.entered
    assert min(figures) >= 0
    left = breakdown.subtotal
    for discount in breakdown.discounts:
        assert discount.amount <= left
        left -= discount.amount


@EXAMPLES
@given(carts())
def test_the_breakdown_agrees_with_the_fraction_reference(cart: Cart) -> None:
    breakdown = cart.priced()
    expected = reference(cart)
    event(f"{'inclusive' if cart.inclusive else 'exclusive'}, {len(breakdown.discounts)} discounts")
    event(f"code applied: {any(d.code for d in breakdown.discounts)}")
    assert breakdown.subtotal == expected.subtotal
    assert [d.amount for d in breakdown.discounts] == expected.discounts
    assert (breakdown.shipping.amount if breakdown.shipping else None) == expected.shipping
    assert breakdown.tax == expected.tax
    assert breakdown.total == expected.total
    assert [line.total for line in breakdown.lines] == expected.line_totals


@EXAMPLES
@given(lines_st, tax_rates_st, st.sampled_from(CURRENCIES))
def test_inclusive_and_exclusive_prices_of_the_same_net_agree_on_the_net(
    lines: list[Line], tax_rates: list[TaxRate], currency: str
) -> None:
    # A cart entered net (exclusive) and the same cart entered at its exclusive line totals
    # (inclusive, no promotions) show the same net figures up to one unit per line and rate.
    exclusive = Cart(lines, currency, False, None, tax_rates, [], None).priced()
    grossed = [
        Line(line.product_id, line.category_id, totals.total, 1, line.weight_grams, line.tax_class)
        for line, totals in zip(lines, exclusive.lines, strict=True)
    ]
    inclusive = Cart(grossed, currency, True, None, tax_rates, [], None).priced()
    assert inclusive.total == exclusive.total
    slack = len(lines) * max(1, len(tax_rates))
    assert abs(inclusive.subtotal - exclusive.subtotal) <= slack
    assert abs(inclusive.tax - exclusive.tax) <= slack
