"""Saga rules that need no I/O: keys toward the provider, reasons, cursors, request digests."""

from __future__ import annotations

import uuid

import pytest

from emporium.contracts.catalog import ShortLine, ShortVariantLine
from emporium.kit.relay import backoff_delay
from emporium.orders.common import BadCursor, decode_cursor, encode_cursor
from emporium.orders.order.schemas import Address, CheckoutIn, PaymentIn
from emporium.orders.order.service import request_hash
from emporium.orders.saga.handlers import charge_key, refund_key, shortage_reason


def test_an_order_has_one_charge_key_whatever_the_attempt() -> None:
    order_id = uuid.uuid4()
    assert charge_key(order_id) == charge_key(order_id)
    assert charge_key(order_id) != charge_key(uuid.uuid4())
    assert charge_key(order_id) != refund_key(order_id)


def test_the_rejection_reason_names_each_short_line_by_sku() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    reason = shortage_reason(
        [
            ShortLine(product_id=a, requested=3, available=1),
            ShortLine(product_id=b, requested=2, available=0),
        ],
        {a: "MUG-1", b: "TEE-2"},
    )
    assert (
        reason == "out of stock: MUG-1: 3 requested, 1 available; TEE-2: 2 requested, 0 available"
    )


def test_a_short_variant_is_named_by_its_own_sku_not_its_products() -> None:
    product, variant = uuid.uuid4(), uuid.uuid4()
    short = ShortVariantLine(variant_id=variant, product_id=product, requested=2, available=1)
    reason = shortage_reason([short], {product: "TEE-S", variant: "TEE-M"})
    assert reason == "out of stock: TEE-M: 2 requested, 1 available"


def test_a_short_line_not_in_the_order_is_named_by_its_id() -> None:
    a = uuid.uuid4()
    assert str(a) in shortage_reason([ShortLine(product_id=a, requested=1, available=0)], {})


def test_retries_of_an_unavailable_provider_back_off_and_are_capped() -> None:
    delays = [backoff_delay(n, base=1.0, cap=5.0) for n in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    order_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(order_id)) == order_id
    with pytest.raises(BadCursor):
        decode_cursor("not-a-cursor!")


def _body(token: str = "tok_visa", city: str = "London") -> CheckoutIn:
    address = Address(line1="1 Way", city=city, postal_code="N1", country="GB")
    return CheckoutIn(shipping_address=address, payment=PaymentIn(card_token=token))


def test_the_same_request_body_has_the_same_digest() -> None:
    assert request_hash(_body()) == request_hash(_body())


@pytest.mark.parametrize("other", [_body(token="tok_decline"), _body(city="Paris")])
def test_another_body_has_another_digest(other: CheckoutIn) -> None:
    assert request_hash(_body()) != request_hash(other)
