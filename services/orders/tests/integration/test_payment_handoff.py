"""The ``StockReserved`` handler claims the payment step and hands it to its process's worker.

The row it commits is what a worker's claim leaves (``charging``, attempt 1, a lease), so
a step handed over and never run (the process died) is taken over when the lease ends, and
charged once; with no worker to hand to, the row is ``charge_due`` as before.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from emporium.contracts.catalog import StockReserved
from emporium.kit.db import Database
from emporium.kit.events import wrap
from emporium.kit.outbox import utcnow
from emporium.orders.app import OUTBOX
from emporium.orders.common import EventPublisher
from emporium.orders.models import Payment
from emporium.orders.payment.simulated import SimulatedProvider
from emporium.orders.saga.handlers import build_saga_handlers
from emporium.orders.saga.handoff import PaymentHandoff
from emporium.orders.saga.payments import PaymentWorker

from .test_payments import _events, _state, _worker, database, pending_order

__all__ = ["database"]  # the fixture, shared with test_payments


async def _pending_order(database: Database) -> UUID:
    order_id = uuid.uuid4()
    async with database.session() as session:
        session.add(pending_order(order_id))
    return order_id


async def _reserve(
    database: Database, handoff: PaymentHandoff | None, order_id: UUID, *, fail: bool = False
) -> None:
    """Handle a ``StockReserved`` in a transaction of its own (``fail``: which then fails)."""
    handler = build_saga_handlers(EventPublisher(OUTBOX), handoff)[StockReserved.type_name()]
    reserved = wrap(StockReserved(order_id=order_id), source="catalog", key=order_id)
    async with database.session() as session:
        await handler(session, reserved)
        if fail:
            raise RuntimeError("the consumer's transaction failed")


async def _payment(database: Database, order_id: UUID) -> Payment:
    async with database.session() as session:
        payment = await session.get(Payment, order_id)
        assert payment is not None
        return payment


def _handing_worker(database: Database, handoff: PaymentHandoff) -> tuple[PaymentWorker, list[int]]:
    worker = PaymentWorker(
        database,
        SimulatedProvider(database),
        EventPublisher(OUTBOX),
        listen=False,
        handoff=handoff,
    )
    wakes: list[int] = []
    handoff.attach(lambda: wakes.append(1))  # what a started worker attaches: its wake-up
    return worker, wakes


async def test_a_reservation_commits_a_claimed_step_and_the_worker_charges_it(
    database: Database,
) -> None:
    handoff = PaymentHandoff(lease_seconds=30)
    worker, wakes = _handing_worker(database, handoff)
    order_id = await _pending_order(database)
    await _reserve(database, handoff, order_id)
    payment = await _payment(database, order_id)
    assert (payment.status, payment.attempts, payment.maybe_charged) == ("charging", 1, False)
    assert payment.lease_until is not None
    assert payment.lease_until > utcnow()
    assert wakes == [1]  # handed over once the transaction committed
    # The worker runs what was handed over; its look finds nothing (the row is leased).
    assert await worker.tick() is False
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
    assert await _events(database, order_id) == ["OrderConfirmed"]


async def test_a_reservation_rolled_back_hands_nothing_over(database: Database) -> None:
    handoff = PaymentHandoff(lease_seconds=30)
    _, wakes = _handing_worker(database, handoff)
    order_id = await _pending_order(database)
    with pytest.raises(RuntimeError):
        await _reserve(database, handoff, order_id, fail=True)
    assert handoff.take() == []
    assert wakes == []
    async with database.session() as session:
        assert await session.get(Payment, order_id) is None


async def test_a_step_handed_over_and_never_run_is_taken_over_after_its_lease(
    database: Database,
) -> None:
    handoff = PaymentHandoff(lease_seconds=30)
    _handing_worker(database, handoff)
    order_id = await _pending_order(database)
    await _reserve(database, handoff, order_id)
    handoff.detach()  # the process died before calling the provider
    survivor = _worker(database)
    assert await survivor.claim() == []  # the lease holds
    [step] = await survivor.claim(now=utcnow() + timedelta(seconds=31))
    assert step.attempt == 2
    assert (await _payment(database, order_id)).maybe_charged
    await survivor.run_step(step)
    assert await _state(database, order_id) == ("confirmed", "captured", 1)


async def test_with_no_worker_to_hand_to_the_payment_is_due_for_any_worker(
    database: Database,
) -> None:
    closed = PaymentHandoff(lease_seconds=30)  # nobody attached: no worker runs here
    order_id = await _pending_order(database)
    await _reserve(database, closed, order_id)
    payment = await _payment(database, order_id)
    assert (payment.status, payment.attempts, payment.lease_until) == ("charge_due", 0, None)
    assert await _worker(database).tick()
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
