"""Handlers of the events the customers service consumes: ``orders.events`` (order statistics).

An explicit map from versioned event type to a plain async function; each runs inside the
consumer's transaction with the inbox, so a redelivery has no second effect. Types with no
handler are acknowledged and ignored (tolerant reader).

A confirmed order adds one to its customer's order count and its total to their lifetime
spend, and is remembered (``counted_order``); a cancellation subtracts exactly what was
counted for that order, and nothing for an order never counted.

Versions 1 and 2 of ``OrderConfirmed`` and ``OrderCancelled`` are both read. A v2 total is
what the shopper paid (``subtotal - discounts + shipping + tax``, its breakdown's total); a
v1 total was the lines' sum, which is all such an order cost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.orders import (
    OrderCancelled,
    OrderCancelledV2,
    OrderConfirmed,
    OrderConfirmedV2,
)
from emporium.customers.models import CountedOrder, Customer
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope

__all__ = ["HANDLERS", "on_order_cancelled", "on_order_confirmed"]

log = logging.getLogger(__name__)


def _is_v2(envelope: Envelope) -> bool:
    return envelope.type in (OrderConfirmedV2.type_name(), OrderCancelledV2.type_name())


async def on_order_confirmed(session: AsyncSession, envelope: Envelope) -> None:
    event: OrderConfirmed | OrderConfirmedV2 = (
        envelope.parse(OrderConfirmedV2) if _is_v2(envelope) else envelope.parse(OrderConfirmed)
    )
    customer = await session.get(Customer, event.customer_id)
    if customer is None:
        log.warning("order %s confirmed for unknown customer %s", event.order_id, event.customer_id)
        return
    counted = await session.get(CountedOrder, event.order_id)
    if counted is not None and counted.counted:
        return  # already counted (the same order confirmed twice)
    if counted is None:
        counted = CountedOrder(
            order_id=event.order_id,
            customer_id=customer.id,
            amount=event.total_amount,
            currency=event.currency,
            counted=True,
        )
        session.add(counted)
    else:
        counted.amount, counted.currency, counted.counted = (
            event.total_amount,
            event.currency,
            True,
        )
    customer.order_count += 1
    customer.lifetime_spend += event.total_amount


async def on_order_cancelled(session: AsyncSession, envelope: Envelope) -> None:
    event: OrderCancelled | OrderCancelledV2 = (
        envelope.parse(OrderCancelledV2) if _is_v2(envelope) else envelope.parse(OrderCancelled)
    )
    counted = await session.get(CountedOrder, event.order_id)
    if counted is None or not counted.counted:
        return  # never confirmed here: nothing was added, nothing to take back
    customer = await session.get(Customer, counted.customer_id)
    counted.counted = False
    if customer is not None:
        customer.order_count = max(0, customer.order_count - 1)
        customer.lifetime_spend -= counted.amount


HANDLERS: Mapping[str, Handler] = {
    OrderConfirmed.type_name(): on_order_confirmed,
    OrderConfirmedV2.type_name(): on_order_confirmed,
    OrderCancelled.type_name(): on_order_cancelled,
    OrderCancelledV2.type_name(): on_order_cancelled,
}
