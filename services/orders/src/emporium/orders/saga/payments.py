"""The payment step of the saga: charge (or refund) through the provider, then record it.

One step is three short moves, never one long transaction:

1. *claim* (a transaction of its own): due ``payment`` rows get a lease
   (``lease_until``); on PostgreSQL ``FOR UPDATE SKIP LOCKED`` so workers in several
   processes never take the same row at once;
2. *call* the provider with no transaction open and no lock held, with the order's one
   idempotency key (``charge_key`` / ``refund_key``);
3. *record* (a transaction of its own, the payment and order rows locked): the answer, the
   order's transition through the state machine and its event (via the outbox).

The claim of a charge commits ``charging`` (and the attempt number) *before* the call, so
the database always knows a charge may be under way. A crash between 1 and 3, or a call
that outlives its lease, leaves the row ``charging`` with a lease that expires; whoever
takes it next marks it ``maybe_charged`` and calls again with the same key (the provider
answers with the first answer). What each answer does is ``payment_rules.decide_charge``;
see ``services/orders/README.md`` for every crash window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select

from emporium.kit.db import Database
from emporium.kit.listen import NotifyListener
from emporium.kit.outbox import utcnow
from emporium.kit.relay import backoff_delay
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder, Payment
from emporium.orders.order import repository
from emporium.orders.order.service import apply
from emporium.orders.order.state import Trigger, allowed
from emporium.orders.payment.provider import ChargeResult, PaymentProvider, ProviderUnavailable
from emporium.orders.saga.handoff import PaymentHandoff, PaymentStep
from emporium.orders.saga.loop import PeriodicWorker
from emporium.orders.saga.payment_rules import (
    CHARGE_DUE,
    CHARGING,
    CLAIMABLE,
    REFUND_DUE,
    Outcome,
    claim_charge,
    decide_charge,
)
from emporium.orders.saga.signals import PAYMENTS_DUE

__all__ = ["PaymentWorker"]

log = logging.getLogger(__name__)


class PaymentWorker(PeriodicWorker):
    """Runs due payment steps (a kit ``Worker``).

    Woken by ``PAYMENTS_DUE`` (in-process, and on PostgreSQL through a ``LISTEN``
    connection), so a payment made due is charged at once; ``poll_seconds`` is the fallback
    and paces retries (their ``next_attempt_at`` is in the future). Steps the
    ``StockReserved`` handler claimed itself come through ``handoff`` (``saga/handoff.py``)
    and are run without looking at the table: it is looked at when woken, after a look
    that found work, and every ``poll_seconds``.
    """

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
        call_timeout_seconds: float = 20.0,
        poll_seconds: float = 0.5,
        batch_size: int = 20,
        listen: bool = True,
        handoff: PaymentHandoff | None = None,
    ) -> None:
        super().__init__("payments", poll_seconds)
        self.handoff = handoff
        self._look = True  # whether the next round reads the table whatever was handed over
        self._looked_at = 0.0
        self.database = database
        self.provider = provider
        self.publisher = publisher
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.lease_seconds = lease_seconds
        self.call_timeout_seconds = call_timeout_seconds
        self.batch_size = batch_size
        self._listener = (
            NotifyListener(
                url=database.url,
                channel=PAYMENTS_DUE.channel,
                application_name="emporium-payments-listen",
                wake=self.wake,
                poll_seconds=poll_seconds,
                base_backoff=0.5,
                max_backoff=30.0,
                service_name="orders",
            )
            if listen and database.is_postgres
            else None
        )
        self._listener_task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        """True while the PostgreSQL LISTEN connection is up."""
        return self._listener is not None and self._listener.listening

    def wake(self) -> None:
        """Something may be due in the table (a refund, another process's step): look."""
        self._look = True
        super().wake()

    async def start(self) -> None:
        if self.handoff is not None:
            self.handoff.attach(super().wake)
        PAYMENTS_DUE.listen(self.wake)
        if self._listener is not None and self._listener_task is None:
            self._listener_task = asyncio.create_task(self._listener.run(), name="payments-listen")
        await super().start()

    async def stop(self) -> None:
        if self.handoff is not None:
            self.handoff.detach()
        PAYMENTS_DUE.unlisten(self.wake)
        task, self._listener_task = self._listener_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().stop()

    async def tick(self) -> bool:
        claimed: list[PaymentStep] = []
        # Without a handoff every round looks, as the only way steps arrive.
        due = time.monotonic() - self._looked_at >= self.interval
        if self.handoff is None or self._look or due:
            self._looked_at = time.monotonic()
            claimed = await self.claim()
            # More may be due than one batch: the next round looks again at once.
            self._look = bool(claimed)
        # Taken after the look: a look that fails leaves them for the next round.
        steps = [*claimed, *(self.handoff.take() if self.handoff is not None else [])]
        if steps:
            await asyncio.gather(*(self.run_step(step) for step in steps))
        # Steps handed over during this round woke the loop already: no look needed for them.
        return len(claimed) > 0

    async def claim(self, now: datetime | None = None) -> list[PaymentStep]:
        now = now or utcnow()
        async with self.database.session() as session:
            query = (
                select(Payment, CustomerOrder.card_token)
                .join(CustomerOrder, CustomerOrder.id == Payment.order_id)
                .where(
                    Payment.status.in_(CLAIMABLE),
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
                status = payment.status
                kind: Literal["charge", "refund"] = "refund"
                if status in (CHARGE_DUE, CHARGING):
                    kind = "charge"
                    if status == CHARGING:
                        log.warning(
                            "payment of order %s: attempt %d never recorded (lease ran out); "
                            "its charge may have gone through",
                            payment.order_id, payment.attempts,
                        )  # fmt: skip
                    claim = claim_charge(
                        status=status,
                        attempts=payment.attempts,
                        maybe_charged=payment.maybe_charged,
                    )
                    # Committed before the call: from here on the charge may be under way.
                    payment.status = CHARGING
                    payment.attempts = claim.attempt
                    payment.maybe_charged = claim.maybe_charged
                    payment.updated_at = now
                payment.lease_until = now + timedelta(seconds=self.lease_seconds)
                steps.append(
                    PaymentStep(
                        order_id=payment.order_id,
                        kind=kind,
                        attempt=payment.attempts,
                        amount=payment.amount,
                        currency=payment.currency,
                        charge_key=payment.charge_key,
                        refund_key=payment.refund_key,
                        card_token=card_token,
                    )
                )
            return steps

    async def run_step(self, step: PaymentStep) -> None:
        try:
            if step.kind == "charge":
                await self._charge(step)
            else:
                await self._refund(step)
        except Exception:
            log.exception("payment step of order %s failed; it will be retried", step.order_id)

    async def _charge(self, step: PaymentStep) -> None:
        result: ChargeResult | None = None
        error: str | None = None
        try:
            # No transaction is open here: a slow provider holds no lock and no connection.
            result = await asyncio.wait_for(
                self.provider.charge(
                    idempotency_key=step.charge_key,
                    amount=step.amount,
                    currency=step.currency,
                    card_token=step.card_token or "",
                ),
                timeout=self.call_timeout_seconds,
            )
            outcome = Outcome.APPROVED if result.approved else Outcome.DECLINED
        except ProviderUnavailable as failure:
            outcome, error = Outcome.UNAVAILABLE, str(failure) or "provider unavailable"
        except Exception as failure:
            # A timeout, a dropped connection, anything else: the provider may have charged.
            outcome, error = Outcome.UNKNOWN, f"outcome unknown: {failure!r}"
        await self._record_charge(step, outcome, result, error)

    async def _record_charge(
        self, step: PaymentStep, outcome: Outcome, result: ChargeResult | None, error: str | None
    ) -> None:
        async with self.database.session() as session:
            found = await repository.get_with_payment_for_update(session, step.order_id)
            if found is None:
                return
            order, payment = found
            now = utcnow()
            if result is not None and payment.provider_reference is None:
                payment.provider_reference = result.reference
            decision = decide_charge(
                status=payment.status,
                maybe_charged=payment.maybe_charged,
                attempts=payment.attempts,
                step_attempt=step.attempt,
                max_attempts=self.max_attempts,
                order_pending=allowed(order.status, Trigger.PAYMENT_APPROVED),
                outcome=outcome,
            )
            if decision is None:
                log.info(
                    "payment of order %s: %s answer to attempt %d changes nothing (row is %s)",
                    step.order_id, outcome, step.attempt, payment.status,
                )  # fmt: skip
                return
            payment.updated_at = now
            payment.maybe_charged = decision.maybe_charged
            if error is not None:
                payment.last_error = error
            if decision.status == payment.status and not decision.retry:
                return  # a worker that lost its lease: it only marks the row maybe_charged
            payment.status = decision.status
            payment.lease_until = None
            if decision.retry:
                delay = backoff_delay(
                    payment.attempts, base=self.backoff_seconds, cap=self.backoff_cap_seconds
                )
                payment.next_attempt_at = now + timedelta(seconds=delay)
                log.warning(
                    "payment of order %s: %s on attempt %d; retrying in %.1f s",
                    step.order_id, outcome, payment.attempts, delay,
                )  # fmt: skip
                return
            order.card_token = None
            if decision.status == REFUND_DUE:
                payment.attempts = 0
                payment.next_attempt_at = now
                log.warning("payment of order %s: may hold money; refund due", step.order_id)
            trigger = decision.trigger
            if trigger is None or not allowed(order.status, trigger):
                return
            if trigger is Trigger.PAYMENT_APPROVED:
                reason = "paid"
            elif trigger is Trigger.PAYMENT_DECLINED:
                reason = f"payment declined: {(result.reason if result else None) or 'declined'}"
            else:
                reason = f"payment provider unavailable after {step.attempt} attempts"
            await apply(session, self.publisher, order, trigger, reason)

    async def _refund(self, step: PaymentStep) -> None:
        try:
            result = await asyncio.wait_for(
                self.provider.refund(idempotency_key=step.refund_key, charge_key=step.charge_key),
                timeout=self.call_timeout_seconds,
            )
        except Exception as error:
            # Unavailable or unknown alike: a refund is owed, so it is retried without a
            # limit (the refund key makes a repeat harmless), only more slowly.
            async with self.database.session() as session:
                payment = await repository.payment(session, step.order_id, lock=True)
                if payment is not None and payment.status == REFUND_DUE:
                    payment.attempts += 1
                    payment.last_error = f"refund: {error!r}"
                    payment.lease_until = None
                    payment.updated_at = utcnow()
                    delay = backoff_delay(
                        payment.attempts, base=self.backoff_seconds, cap=self.backoff_cap_seconds
                    )
                    payment.next_attempt_at = utcnow() + timedelta(seconds=delay)
            return
        async with self.database.session() as session:
            payment = await repository.payment(session, step.order_id, lock=True)
            if payment is not None and payment.status == REFUND_DUE:
                payment.status = "refunded"
                payment.lease_until = None
                payment.last_error = None
                payment.updated_at = utcnow()
                log.info("order %s refunded %d", step.order_id, result.amount)
