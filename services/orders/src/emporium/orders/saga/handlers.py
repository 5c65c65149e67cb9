"""The saga's reactions to catalog's answers (``StockReserved``, ``StockReservationRejected``).

Both run inside the consumer's inbox transaction and stay short: a reservation only
*records* that the order is to be charged (a ``payment`` row); the ``PaymentWorker`` calls
the provider outside any transaction. With a ``PaymentHandoff`` (the app's) the row is
written already claimed (``charging``, attempt 1, leased) and handed to this process's
worker once the transaction commits (``saga/handoff.py``); without one it is
``charge_due`` and the workers are woken to claim it. An answer for an order that
is no longer pending (cancelled by the customer or the sweeper meanwhile) changes nothing:
catalog releases that stock on the ``OrderCancelled`` it reads after its ``OrderPlaced``.
``StockReservationRejected`` is read in both versions: v1 names the short products, v2
(stock per variant and location) the short variants.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import (
    ShortLine,
    ShortVariantLine,
    StockReservationRejected,
    StockReservationRejectedV2,
    StockReserved,
)
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope
from emporium.kit.outbox import utcnow
from emporium.orders.common import EventPublisher
from emporium.orders.models import Payment
from emporium.orders.order import repository
from emporium.orders.order.service import apply
from emporium.orders.order.state import Status, Trigger, allowed
from emporium.orders.saga.handoff import PaymentHandoff, PaymentStep
from emporium.orders.saga.payment_rules import CHARGE_DUE, CHARGING, claim_charge
from emporium.orders.saga.signals import PAYMENTS_DUE

__all__ = ["build_saga_handlers", "charge_key", "refund_key", "shortage_reason"]

log = logging.getLogger(__name__)


def charge_key(order_id: object) -> str:
    """The one idempotency key of an order's charge: every attempt sends it."""
    return f"order-{order_id}-charge"


def refund_key(order_id: object) -> str:
    return f"order-{order_id}-refund"


def _short_id(line: ShortLine | ShortVariantLine) -> object:
    return line.variant_id if isinstance(line, ShortVariantLine) else line.product_id


def shortage_reason(
    short: Sequence[ShortLine | ShortVariantLine], skus: Mapping[object, str]
) -> str:
    """What was short, by SKU (``skus``: of the order's lines by product and variant id)."""
    parts = [
        f"{skus.get(_short_id(line), _short_id(line))}: {line.requested} requested, "
        f"{line.available} available"
        for line in short
    ]
    return "out of stock: " + "; ".join(parts) if parts else "out of stock"


def build_saga_handlers(
    publisher: EventPublisher, handoff: PaymentHandoff | None = None
) -> dict[str, Handler]:
    """The handlers, staging events through ``publisher`` (and payment steps through
    ``handoff``, when given)."""

    async def stock_reserved(session: AsyncSession, envelope: Envelope) -> None:
        data = envelope.parse(StockReserved)
        order = await repository.lock_to_charge(session, data.order_id)
        if order is None or order.status != Status.PENDING:
            log.info("stock reserved for order %s, which is not pending: ignored", data.order_id)
            return
        if order.has_payment:
            return  # a second StockReserved (another event id) for the same reservation
        now = utcnow()
        payment = Payment(
            order_id=order.id,
            status=CHARGE_DUE,
            amount=order.total_amount,
            currency=order.currency,
            charge_key=charge_key(order.id),
            refund_key=refund_key(order.id),
            attempts=0,
            maybe_charged=False,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        if handoff is None or not handoff.open:
            await PAYMENTS_DUE.raise_in(session)  # charged as soon as this commits
            return
        # The worker's claim, made here: the row is committed as charging before the call.
        claim = claim_charge(status=CHARGE_DUE, attempts=0, maybe_charged=False)
        payment.status = CHARGING
        payment.attempts = claim.attempt
        payment.maybe_charged = claim.maybe_charged
        payment.lease_until = now + timedelta(seconds=handoff.lease_seconds)
        handoff.stage(
            session,
            PaymentStep(
                order_id=order.id,
                kind="charge",
                attempt=claim.attempt,
                amount=payment.amount,
                currency=payment.currency,
                charge_key=payment.charge_key,
                refund_key=payment.refund_key,
                card_token=order.card_token,
            ),
        )

    async def stock_rejected(session: AsyncSession, envelope: Envelope) -> None:
        data: StockReservationRejected | StockReservationRejectedV2
        if envelope.type == StockReservationRejectedV2.type_name():
            data = envelope.parse(StockReservationRejectedV2)
        else:
            data = envelope.parse(StockReservationRejected)
        order = await repository.get_for_update(session, data.order_id)
        if order is None or not allowed(order.status, Trigger.STOCK_REJECTED):
            log.info("stock rejected for order %s, not pending: ignored", data.order_id)
            return
        lines = (await repository.lines(session, [order.id]))[order.id]
        skus: dict[object, str] = {line.product_id: line.sku for line in lines}
        skus.update({line.variant_id: line.sku for line in lines})
        await apply(
            session,
            publisher,
            order,
            Trigger.STOCK_REJECTED,
            shortage_reason(data.short_lines, skus),
        )

    return {
        StockReserved.type_name(): stock_reserved,
        StockReservationRejected.type_name(): stock_rejected,
        StockReservationRejectedV2.type_name(): stock_rejected,
    }
