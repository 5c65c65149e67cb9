"""Checkout: the cart, priced once, becomes a pending order and an ``OrderPlaced``.

In one transaction, under the cart lock (which serialises one customer's checkouts):

1. the same Idempotency-Key again returns the order it placed (another body: 409);
2. the address is the body's, else the cart's (422 if neither); the cart is priced with its
   shipping method and code exactly as a cart view would (``cart.quote``);
3. the cart must ship: a code that no longer applies is a 422 with its ``reason``; a method
   must be chosen when a zone covers the country (409 ``shipping-method-required``);
4. the code is reserved (``rules.redemptions.reserve``): its limit reached is a 422
   ``used_up`` and nothing is placed, so N uses go to at most N orders however many race;
5. the breakdown is stored on the order (JSON and columns, the lines' discount and tax) and
   never computed again; the event carries it; the cart is emptied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.errors import Conflict, Unprocessable, problem_type
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow
from emporium.orders import pricing
from emporium.orders.cart import repository as carts
from emporium.orders.cart.quote import Quote, quote
from emporium.orders.cart.service import CodeRefused, choices_of
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder, OrderLine, OrderStatusChange
from emporium.orders.order import repository
from emporium.orders.order.events import placed_event
from emporium.orders.order.schemas import CheckoutIn
from emporium.orders.order.service import (
    CartNotOrderable,
    EmptyCart,
    IdempotencyKeyReused,
    record,
    request_hash,
)
from emporium.orders.order.state import Status, Trigger
from emporium.orders.rules import redemptions

__all__ = ["Placed", "ShippingAddressRequired", "ShippingMethodRequired", "place"]


class ShippingAddressRequired(Unprocessable):
    type = problem_type("shipping-address-required")
    title = "A shipping address is required"


class ShippingMethodRequired(Conflict):
    type = problem_type("shipping-method-required")
    title = "Choose a shipping method first"


def _orderable(priced: Quote) -> None:
    """Refuse a cart that cannot become an order as it is priced now."""
    lines = priced.lines
    if not lines:
        raise EmptyCart("add products to the cart before ordering")
    unavailable = [str(line.item.product_id) for line in lines if not line.available]
    if unavailable:
        raise CartNotOrderable(
            "some products are no longer sold; remove them from the cart", product_ids=unavailable
        )
    unsold = [str(line.item.product_id) for line in lines if not line.sellable(priced.currency)]
    if unsold:
        raise CartNotOrderable(
            f"some items have no price in the cart's currency ({priced.currency}); remove them",
            product_ids=unsold,
        )
    if priced.code_dropped is not None:
        raise CodeRefused(
            priced.code_dropped.detail, reason=priced.code_dropped.reason, field="cart.codes"
        )
    if priced.rate_dropped is not None:
        raise ShippingMethodRequired(priced.rate_dropped.detail)
    if priced.ships and priced.rate is None:
        raise ShippingMethodRequired(
            "the cart ships to a country with shipping rates: choose one of its "
            "shipping options (PUT /cart/shipping-method)"
        )


@dataclass(frozen=True, slots=True)
class Placed:
    """The order of a checkout, with the lines and history it was made with (None: an
    earlier request's order, found by its key)."""

    order: CustomerOrder
    made: tuple[list[OrderLine], list[OrderStatusChange]] | None = None


async def place(
    session: AsyncSession,
    publisher: EventPublisher,
    customer_id: UUID,
    key: str,
    body: CheckoutIn,
    tax_inclusive: frozenset[str],
) -> Placed:
    """Turn the cart into a pending order + ``OrderPlaced``; the same key gives the same order."""
    digest = request_hash(body)
    # The cart lock serialises the customer's checkouts: a second request with the same key
    # waits here, then finds the first one's order below.
    cart = await carts.lock_cart(session, customer_id)
    existing = await repository.by_key(session, customer_id, key)
    if existing is not None:
        if existing.request_hash != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different order request"
            )
        return Placed(existing)
    choices = choices_of(cart)
    address = body.shipping_address or choices.address
    if address is None:
        raise ShippingAddressRequired(
            "give a shipping_address, or set the cart's (PUT /cart/shipping-address)",
            field="body.shipping_address",
        )
    now = utcnow()
    priced = await quote(
        session,
        customer_id,
        dataclasses.replace(choices, address=address),
        tax_inclusive=tax_inclusive,
        now=now,
    )
    _orderable(priced)
    order_id = uuid7()
    promotion = priced.promotion
    if promotion is not None and not await redemptions.reserve(
        session, promotion.id, order_id=order_id, customer_id=customer_id
    ):
        raise CodeRefused(
            f"the code {promotion.code} has been used as often as it may",
            reason="used_up",
            field="cart.codes",
        )
    breakdown = priced.breakdown
    order = CustomerOrder(
        id=order_id,
        customer_id=customer_id,
        status=Status.PENDING.value,
        status_reason=None,
        total_amount=breakdown.total,
        currency=priced.currency,
        subtotal_amount=breakdown.subtotal,
        discount_amount=breakdown.discount,
        shipping_amount=0 if breakdown.shipping is None else breakdown.shipping.amount,
        tax_amount=breakdown.tax,
        breakdown=breakdown.to_json(),
        shipping_address=address.model_dump(mode="json"),
        card_token=body.payment.card_token,
        idempotency_key=key,
        request_hash=digest,
        created_at=now,
        updated_at=now,
    )
    lines = _order_lines(order_id, priced, breakdown)
    # The event first, so the order row goes in already naming it (no UPDATE after): the
    # reservation deadline starts when this row is published (see saga/deadline.py).
    placed = await publisher.publish(session, placed_event(order, lines), key=order.id)
    order.placed_event_id = placed.id
    session.add(order)
    await session.flush()
    session.add_all(lines)
    first = await record(session, order, Trigger.PLACED, None, seq=1)  # a new order's first
    await carts.empty(session, customer_id)
    if cart is not None:
        # The code went with this order and the method was for these contents.
        cart.shipping_rate_id, cart.promotion_code, cart.notices = None, None, None
    await session.flush()
    return Placed(order, (lines, [first]))


def _order_lines(order_id: UUID, priced: Quote, breakdown: pricing.Breakdown) -> list[OrderLine]:
    """The cart's lines as the order's snapshot (the variant, its SKU and options, its price
    in the order's currency), each with its share of the breakdown."""
    out: list[OrderLine] = []
    for position, (line, totals) in enumerate(
        zip(priced.lines, breakdown.lines, strict=True), start=1
    ):
        product = line.product
        amount = line.unit_amount(priced.currency)
        assert product is not None
        assert amount is not None  # _orderable: every line is priced
        assert product.id == totals.product_id
        out.append(
            OrderLine(
                order_id=order_id,
                position=position,
                product_id=product.id,
                variant_id=line.item.product_id,
                options=line.options,
                sku=line.sku,
                name=product.name,
                unit_amount=amount,
                quantity=line.item.quantity,
                discount_amount=totals.discount,
                tax_amount=totals.tax,
            )
        )
    return out
