"""How a cart is shown: current prices, flags, and what counts toward the total."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from emporium.orders.cart.lines import PricedLine
from emporium.orders.cart.quote import Choices, Rules, build_quote
from emporium.orders.cart.schemas import CartOut
from emporium.orders.cart.service import render as render_quote
from emporium.orders.models import CartItem, ProductCopy

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def render(lines: list[PricedLine]) -> CartOut:
    """The cart with no pricing rules at all: it costs the sum of its available lines."""
    return render_quote(
        build_quote(lines, Choices(), Rules(), tax_inclusive=frozenset({"EUR"}), now=NOW)
    )


def _line(*, seen: int, price: int | None, quantity: int = 1, deleted: bool = False) -> PricedLine:
    product_id = uuid.uuid4()
    item = CartItem(
        customer_id=uuid.uuid4(),
        product_id=product_id,
        quantity=quantity,
        seen_unit_amount=seen,
        added_at=NOW,
    )
    product = None
    if price is not None:
        product = ProductCopy(
            id=product_id,
            sku="SKU",
            name="Mug",
            price_amount=price,
            currency="EUR",
            deleted=deleted,
            source_time=NOW,
        )
    return PricedLine(item, product)


def test_lines_are_priced_at_the_current_price() -> None:
    cart = render([_line(seen=1000, price=1000, quantity=3)])
    [item] = cart.items
    assert (item.unit_price.amount, item.line_total.amount) == (1000, 3000)
    assert not item.price_changed
    assert item.previous_unit_price is None
    assert cart.total.amount == 3000


def test_a_repriced_line_shows_the_new_price_and_the_one_the_customer_saw() -> None:
    [item] = render([_line(seen=1000, price=800, quantity=2)]).items
    assert item.unit_price.amount == 800
    assert item.line_total.amount == 1600
    assert item.price_changed
    assert item.previous_unit_price is not None
    assert item.previous_unit_price.amount == 1000


def test_a_deleted_product_is_flagged_and_left_out_of_the_total() -> None:
    cart = render([_line(seen=500, price=500), _line(seen=700, price=700, deleted=True)])
    assert [i.available for i in cart.items] == [True, False]
    assert cart.total.amount == 500


def test_an_empty_cart_totals_zero() -> None:
    cart = render([])
    assert cart.items == []
    assert (cart.total.amount, cart.total.currency) == (0, "EUR")
