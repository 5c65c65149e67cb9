"""Order rules: every status change (through the state machine), views.

``apply`` is the only function that changes an order's status: it asks the state machine,
records the history entry, settles the order's promotion code (released when rejected or
cancelled, redeemed when confirmed) and stages the matching event, all in one transaction.
Placing an order is ``order.checkout``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.errors import Conflict, NotFound, problem_type
from emporium.kit.outbox import utcnow
from emporium.orders.common import EventPublisher, Money
from emporium.orders.models import CustomerOrder, OrderLine, OrderStatusChange
from emporium.orders.order import repository
from emporium.orders.order.breakdown import breakdown_fields
from emporium.orders.order.events import status_event, stored_breakdown
from emporium.orders.order.schemas import (
    Address,
    CheckoutIn,
    HistoryEntry,
    OrderLineOut,
    OrderOut,
)
from emporium.orders.order.state import IllegalTransition, Status, Transition, Trigger, transition
from emporium.orders.rules import redemptions
from emporium.orders.saga.signals import PAYMENTS_DUE

__all__ = [
    "CartNotOrderable",
    "EmptyCart",
    "IdempotencyKeyReused",
    "IllegalStatusChange",
    "OrderNotFound",
    "apply",
    "cancel_by_customer",
    "record",
    "render",
    "request_hash",
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


async def record(
    session: AsyncSession, order: CustomerOrder, trigger: Trigger, reason: str | None, *, seq: int
) -> OrderStatusChange:
    """Add the order's status as its history entry number ``seq`` (a new order's first, at
    checkout); ``apply`` appends later entries without reading the last number."""
    entry = OrderStatusChange(
        order_id=order.id,
        seq=seq,
        status=order.status,
        trigger=trigger.value,
        reason=reason,
        at=order.updated_at,
    )
    session.add(entry)
    return entry


def _holds_code(order: CustomerOrder) -> bool:
    """Whether the order may hold a code's redemption: its breakdown has a discount by code
    (checkout reserves only the code it priced), or it predates stored breakdowns."""
    if order.breakdown is None:
        return True
    return any(d.get("code") for d in order.breakdown.get("discounts") or ())


async def _settle_code(session: AsyncSession, order: CustomerOrder, step: Transition) -> None:
    """The order's use of a limited code: given back once it is rejected or cancelled (in
    this same transaction), kept for good once it is confirmed."""
    if step.target in (Status.REJECTED, Status.CANCELLED):
        await redemptions.release(session, order.id)
    elif step.target is Status.CONFIRMED and _holds_code(order):
        # Most orders hold no code: no UPDATE that would find no row.
        await redemptions.redeem(session, order.id)


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
    await repository.append_history(
        session,
        order.id,
        status=order.status,
        trigger=trigger.value,
        reason=reason,
        at=order.updated_at,
    )
    await _settle_code(session, order, step)
    legacy = order.breakdown is None and step.target in (Status.CONFIRMED, Status.CANCELLED)
    lines = (await repository.lines(session, [order.id]))[order.id] if legacy else []
    await publisher.publish(session, status_event(order, lines, step, reason), key=order.id)
    log.info(
        "order %s: %s -> %s (%s)", order.id, step.source, step.target, trigger,
        extra={"order_id": str(order.id), "reason": reason},
    )  # fmt: skip
    return step


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


async def render(
    session: AsyncSession,
    orders: Sequence[CustomerOrder],
    *,
    known: Mapping[UUID, tuple[Sequence[OrderLine], Sequence[OrderStatusChange]]] | None = None,
) -> list[OrderOut]:
    """The orders as the API shows them, each with the breakdown stored when it was placed.

    ``known``: lines and history the caller holds already (an order it just made), so
    they are not read back."""
    known = known or {}
    ids = [o.id for o in orders if o.id not in known]
    all_lines: dict[UUID, Sequence[OrderLine]] = {i: known[i][0] for i in known}
    all_history: dict[UUID, Sequence[OrderStatusChange]] = {i: known[i][1] for i in known}
    if ids:
        all_lines.update(await repository.lines(session, ids))
        all_history.update(await repository.history(session, ids))
    out: list[OrderOut] = []
    for order in orders:

        def money(amount: int, currency: str = order.currency) -> Money:
            return Money(amount=amount, currency=currency)

        out.append(
            OrderOut(
                id=order.id,
                customer_id=order.customer_id,
                status=order.status,
                status_reason=order.status_reason,
                lines=[
                    OrderLineOut(
                        product_id=line.product_id,
                        variant_id=line.variant_id,
                        options=line.options or {},
                        sku=line.sku,
                        name=line.name,
                        unit_price=money(line.unit_amount),
                        quantity=line.quantity,
                        line_total=money(line.unit_amount * line.quantity),
                        discount=money(line.discount_amount),
                        tax=money(line.tax_amount),
                    )
                    for line in all_lines[order.id]
                ],
                **breakdown_fields(stored_breakdown(order)),
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
