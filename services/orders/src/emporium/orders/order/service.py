"""Order rules: checkout, every status change (through the state machine), views.

``apply`` is the only function that changes an order's status: it asks the state machine,
records the history entry and stages the matching event in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
)
from emporium.contracts.orders import (
    OrderLine as OrderLineEvent,
)
from emporium.kit.errors import Conflict, NotFound, problem_type
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow
from emporium.orders.cart import repository as carts
from emporium.orders.cart.service import priced_lines
from emporium.orders.common import EventPublisher, Money
from emporium.orders.models import CustomerOrder, OrderLine, OrderStatusChange
from emporium.orders.order import repository
from emporium.orders.order.schemas import (
    Address,
    CheckoutIn,
    HistoryEntry,
    OrderLineOut,
    OrderOut,
)
from emporium.orders.order.state import IllegalTransition, Status, Transition, Trigger, transition
from emporium.orders.saga.signals import PAYMENTS_DUE

__all__ = [
    "CartNotOrderable",
    "EmptyCart",
    "IdempotencyKeyReused",
    "IllegalStatusChange",
    "OrderNotFound",
    "apply",
    "cancel_by_customer",
    "place",
    "render",
    "ship",
]

log = logging.getLogger(__name__)


class OrderNotFound(NotFound):
    type = problem_type("order-not-found")
    title = "Order not found"


class EmptyCart(Conflict):
    type = problem_type("empty-cart")
    title = "The cart is empty"


class CartNotOrderable(Conflict):
    type = problem_type("cart-not-orderable")
    title = "The cart holds products that cannot be ordered"


class IdempotencyKeyReused(Conflict):
    """409: the key already placed an order from another request (body); the same request
    again returns that order instead."""

    type = problem_type("idempotency-key-reused")
    title = "Idempotency-Key reused with another request"


class IllegalStatusChange(Conflict):
    type = problem_type("illegal-status-change")
    title = "Not possible in the order's current status"


def request_hash(body: CheckoutIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _record(
    session: AsyncSession, order: CustomerOrder, trigger: Trigger, reason: str | None
) -> None:
    session.add(
        OrderStatusChange(
            order_id=order.id,
            seq=await repository.next_seq(session, order.id),
            status=order.status,
            trigger=trigger.value,
            reason=reason,
            at=order.updated_at,
        )
    )


async def apply(
    session: AsyncSession,
    publisher: EventPublisher,
    order: CustomerOrder,
    trigger: Trigger,
    reason: str | None = None,
) -> Transition:
    """Change ``order``'s status by ``trigger`` (``IllegalTransition`` if not allowed)."""
    step = transition(order.status, trigger)
    order.status = step.target.value
    order.status_reason = reason
    order.updated_at = utcnow()
    await _record(session, order, trigger, reason)
    event = _event_for(order, step, reason)
    await publisher.publish(session, event, key=order.id)
    log.info(
        "order %s: %s -> %s (%s)", order.id, step.source, step.target, trigger,
        extra={"order_id": str(order.id), "reason": reason},
    )  # fmt: skip
    return step


def _event_for(
    order: CustomerOrder, step: Transition, reason: str | None
) -> OrderConfirmed | OrderRejected | OrderCancelled | OrderShipped:
    if step.target is Status.CONFIRMED:
        return OrderConfirmed(
            order_id=order.id,
            customer_id=order.customer_id,
            total_amount=order.total_amount,
            currency=order.currency,
        )
    if step.target is Status.REJECTED:
        return OrderRejected(order_id=order.id, customer_id=order.customer_id, reason=reason or "")
    if step.target is Status.CANCELLED:
        return OrderCancelled(
            order_id=order.id,
            customer_id=order.customer_id,
            reason=reason or "",
            was_confirmed=step.source is Status.CONFIRMED,
            total_amount=order.total_amount,
            currency=order.currency,
        )
    return OrderShipped(order_id=order.id, customer_id=order.customer_id)


async def place(
    session: AsyncSession,
    publisher: EventPublisher,
    customer_id: UUID,
    key: str,
    body: CheckoutIn,
) -> CustomerOrder:
    """Turn the cart into a pending order + ``OrderPlaced``; the same key gives the same order."""
    digest = request_hash(body)
    # The cart lock serialises the customer's checkouts: a second request with the same key
    # waits here, then finds the first one's order below.
    await carts.lock_cart(session, customer_id)
    existing = await repository.by_key(session, customer_id, key)
    if existing is not None:
        if existing.request_hash != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different order request"
            )
        return existing
    lines = await priced_lines(session, customer_id)
    if not lines:
        raise EmptyCart("add products to the cart before ordering")
    unavailable = [str(line.item.product_id) for line in lines if not line.available]
    if unavailable:
        raise CartNotOrderable(
            "some products are no longer sold; remove them from the cart", product_ids=unavailable
        )
    currencies = {line.product.currency for line in lines if line.product is not None}
    if len(currencies) != 1:
        raise CartNotOrderable("the cart mixes currencies")
    now = utcnow()
    order = CustomerOrder(
        id=uuid7(),
        customer_id=customer_id,
        status=Status.PENDING.value,
        status_reason=None,
        total_amount=0,
        currency=currencies.pop(),
        shipping_address=body.shipping_address.model_dump(mode="json"),
        card_token=body.payment.card_token,
        idempotency_key=key,
        request_hash=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    event_lines: list[OrderLineEvent] = []
    for position, line in enumerate(lines, start=1):
        product = line.product
        assert product is not None
        session.add(
            OrderLine(
                order_id=order.id,
                position=position,
                product_id=product.id,
                sku=product.sku,
                name=product.name,
                unit_amount=product.price_amount,
                quantity=line.item.quantity,
            )
        )
        order.total_amount += product.price_amount * line.item.quantity
        event_lines.append(
            OrderLineEvent(
                product_id=product.id,
                sku=product.sku,
                quantity=line.item.quantity,
                unit_amount=product.price_amount,
            )
        )
    await _record(session, order, Trigger.PLACED, None)
    placed = await publisher.publish(
        session,
        OrderPlaced(
            order_id=order.id,
            customer_id=customer_id,
            lines=event_lines,
            total_amount=order.total_amount,
            currency=order.currency,
        ),
        key=order.id,
    )
    # The reservation deadline starts when this row is published (see saga/deadline.py).
    order.placed_event_id = placed.id
    await carts.clear(session, customer_id)
    await session.flush()
    return order


async def owned(session: AsyncSession, order_id: UUID, customer_id: UUID) -> CustomerOrder:
    """The customer's order; another customer's is as absent as a missing one (404)."""
    order = await repository.get(session, order_id)
    if order is None or order.customer_id != customer_id:
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


async def _change(
    session: AsyncSession,
    publisher: EventPublisher,
    order_id: UUID,
    trigger: Trigger,
    reason: str,
    *,
    customer_id: UUID | None,
) -> CustomerOrder:
    order = await repository.get_for_update(session, order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise OrderNotFound(f"order {order_id} does not exist")
    try:
        step = await apply(session, publisher, order, trigger, reason)
    except IllegalTransition as error:
        raise IllegalStatusChange(str(error), order_status=order.status) from None
    if step.refund_if_charged:
        await request_refund(session, order.id)
    return order


async def request_refund(session: AsyncSession, order_id: UUID) -> None:
    """Money the payment step took (or may be taking right now) goes back.

    A charge in flight is covered too: the refund voids the charge key at the provider if
    it lands first, and refunds the charge if it lands after.
    """
    payment = await repository.payment(session, order_id, lock=True)
    if payment is not None and payment.status in ("charge_due", "charging", "captured"):
        payment.status = "refund_due"
        payment.attempts = 0
        # Free at once, even while a worker is charging: the refund voids or undoes it.
        payment.lease_until = None
        payment.next_attempt_at = utcnow()
        payment.updated_at = utcnow()
        await PAYMENTS_DUE.raise_in(session)  # refunded as soon as this commits


async def cancel_by_customer(
    session: AsyncSession, publisher: EventPublisher, order_id: UUID, customer_id: UUID
) -> CustomerOrder:
    return await _change(
        session,
        publisher,
        order_id,
        Trigger.CUSTOMER_CANCELLED,
        "cancelled by the customer",
        customer_id=customer_id,
    )


async def ship(session: AsyncSession, publisher: EventPublisher, order_id: UUID) -> CustomerOrder:
    return await _change(session, publisher, order_id, Trigger.SHIPPED, "shipped", customer_id=None)


async def render(session: AsyncSession, orders: Sequence[CustomerOrder]) -> list[OrderOut]:
    ids = [o.id for o in orders]
    all_lines = await repository.lines(session, ids)
    all_history = await repository.history(session, ids)
    out: list[OrderOut] = []
    for order in orders:
        out.append(
            OrderOut(
                id=order.id,
                customer_id=order.customer_id,
                status=order.status,
                status_reason=order.status_reason,
                lines=[
                    OrderLineOut(
                        product_id=line.product_id,
                        sku=line.sku,
                        name=line.name,
                        unit_price=Money(amount=line.unit_amount, currency=order.currency),
                        quantity=line.quantity,
                    )
                    for line in all_lines[order.id]
                ],
                total=Money(amount=order.total_amount, currency=order.currency),
                shipping_address=(
                    Address.model_validate(order.shipping_address)
                    if order.shipping_address
                    else None
                ),
                created_at=order.created_at,
                updated_at=order.updated_at,
                history=[
                    HistoryEntry(status=h.status, reason=h.reason, at=h.at)
                    for h in all_history[order.id]
                ],
            )
        )
    return out
