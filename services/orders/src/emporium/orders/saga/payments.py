"""The payment step of the saga: charge (or refund) through the provider, then record it.

One step is three short moves, never one long transaction:

1. *claim* (a transaction of its own): due ``payment`` rows get a lease
   (``lease_until``); on PostgreSQL ``FOR UPDATE SKIP LOCKED`` so workers in several
   processes never take the same row at once;
2. *call* the provider with no transaction open and no lock held, with the order's one
   idempotency key (``charge_key`` / ``refund_key``);
3. *record* (a transaction of its own, the payment and order rows locked): the answer, the
   order's transition through the state machine and its event (via the outbox).

A crash between 1 and 3 leaves the row due with a lease that expires; whoever takes it
next calls the provider again with the same key and gets the first answer back. See
``services/orders/README.md`` for every crash window.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import or_, select

from emporium.kit.db import Database
from emporium.kit.outbox import utcnow
from emporium.kit.relay import backoff_delay
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder, Payment
from emporium.orders.order import repository
from emporium.orders.order.service import apply
from emporium.orders.order.state import Trigger, allowed
from emporium.orders.payment.provider import ChargeResult, PaymentProvider, ProviderUnavailable
from emporium.orders.saga.loop import PeriodicWorker

__all__ = ["PaymentWorker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Step:
    order_id: UUID
    status: str
    amount: int
    currency: str
    charge_key: str
    refund_key: str
    card_token: str | None


class PaymentWorker(PeriodicWorker):
    """Runs due payment steps (a kit ``Worker``)."""

    def __init__(
        self,
        database: Database,
        provider: PaymentProvider,
        publisher: EventPublisher,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
        backoff_cap_seconds: float = 30.0,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.5,
        batch_size: int = 20,
    ) -> None:
        super().__init__("payments", poll_seconds)
        self.database = database
        self.provider = provider
        self.publisher = publisher
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    async def tick(self) -> bool:
        steps = await self.claim()
        if steps:
            await asyncio.gather(*(self.run_step(step) for step in steps))
        return len(steps) > 0

    async def claim(self, now: datetime | None = None) -> list[_Step]:
        now = now or utcnow()
        async with self.database.session() as session:
            query = (
                select(Payment, CustomerOrder.card_token)
                .join(CustomerOrder, CustomerOrder.id == Payment.order_id)
                .where(
                    Payment.status.in_(("charge_due", "refund_due")),
                    Payment.next_attempt_at <= now,
                    or_(Payment.lease_until.is_(None), Payment.lease_until < now),
                )
                .order_by(Payment.next_attempt_at)
                .limit(self.batch_size)
            )
            if self.database.is_postgres:
                query = query.with_for_update(skip_locked=True, of=Payment)
            rows = (await session.execute(query)).all()
            steps = []
            for payment, card_token in rows:
                payment.lease_until = now + timedelta(seconds=self.lease_seconds)
                steps.append(
                    _Step(
                        order_id=payment.order_id,
                        status=payment.status,
                        amount=payment.amount,
                        currency=payment.currency,
                        charge_key=payment.charge_key,
                        refund_key=payment.refund_key,
                        card_token=card_token,
                    )
                )
            return steps

    async def run_step(self, step: _Step) -> None:
        try:
            if step.status == "charge_due":
                await self._charge(step)
            else:
                await self._refund(step)
        except Exception:
            log.exception("payment step of order %s failed; it will be retried", step.order_id)

    async def _charge(self, step: _Step) -> None:
        try:
            # No transaction is open here: a slow provider holds no lock and no connection.
            result = await self.provider.charge(
                idempotency_key=step.charge_key,
                amount=step.amount,
                currency=step.currency,
                card_token=step.card_token or "",
            )
        except ProviderUnavailable as error:
            await self._record_unavailable(step, str(error))
            return
        await self._record_charge(step, result)

    async def _record_charge(self, step: _Step, result: ChargeResult) -> None:
        async with self.database.session() as session:
            order = await repository.get_for_update(session, step.order_id)
            payment = await repository.payment(session, step.order_id, lock=True)
            if order is None or payment is None:
                return
            payment.provider_reference = result.reference
            payment.updated_at = utcnow()
            if payment.status != "charge_due":
                # Recorded already (a worker that took over), or the customer cancelled while
                # we were charging: the refund step owns the row now.
                return
            payment.lease_until = None
            order.card_token = None
            if result.approved:
                if allowed(order.status, Trigger.PAYMENT_APPROVED):
                    payment.status = "captured"
                    await apply(session, self.publisher, order, Trigger.PAYMENT_APPROVED, "paid")
                else:
                    payment.status = "refund_due"
                    payment.next_attempt_at = utcnow()
                return
            payment.status = "declined"
            if allowed(order.status, Trigger.PAYMENT_DECLINED):
                reason = f"payment declined: {result.reason or 'declined'}"
                await apply(session, self.publisher, order, Trigger.PAYMENT_DECLINED, reason)

    async def _record_unavailable(self, step: _Step, error: str) -> None:
        async with self.database.session() as session:
            order = await repository.get_for_update(session, step.order_id)
            payment = await repository.payment(session, step.order_id, lock=True)
            if order is None or payment is None or payment.status != "charge_due":
                return
            payment.attempts += 1
            payment.last_error = error
            payment.lease_until = None
            payment.updated_at = utcnow()
            if payment.attempts < self.max_attempts:
                delay = backoff_delay(
                    payment.attempts, base=self.backoff_seconds, cap=self.backoff_cap_seconds
                )
                payment.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.warning(
                    "payment provider unavailable for order %s (attempt %d); retrying in %.1f s",
                    step.order_id, payment.attempts, delay,
                )  # fmt: skip
                return
            payment.status = "failed"
            order.card_token = None
            if allowed(order.status, Trigger.PAYMENT_FAILED):
                reason = f"payment provider unavailable after {payment.attempts} attempts"
                await apply(session, self.publisher, order, Trigger.PAYMENT_FAILED, reason)

    async def _refund(self, step: _Step) -> None:
        try:
            result = await self.provider.refund(
                idempotency_key=step.refund_key, charge_key=step.charge_key
            )
        except ProviderUnavailable as error:
            async with self.database.session() as session:
                payment = await repository.payment(session, step.order_id, lock=True)
                if payment is not None and payment.status == "refund_due":
                    # A refund is owed: retried without a limit, only more slowly.
                    payment.attempts += 1
                    payment.last_error = str(error)
                    payment.lease_until = None
                    delay = backoff_delay(
                        payment.attempts, base=self.backoff_seconds, cap=self.backoff_cap_seconds
                    )
                    payment.next_attempt_at = utcnow() + timedelta(seconds=delay)
            return
        async with self.database.session() as session:
            payment = await repository.payment(session, step.order_id, lock=True)
            if payment is not None and payment.status == "refund_due":
                payment.status = "refunded"
                payment.lease_until = None
                payment.last_error = None
                payment.updated_at = utcnow()
                log.info("order %s refunded %d", step.order_id, result.amount)
