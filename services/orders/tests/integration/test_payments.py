"""The simulated provider and the payment step across crashes, on SQLite and PostgreSQL.

These drive ``PaymentWorker`` and ``SimulatedProvider`` directly (no app, no bus): an order
row and its payment step are made by a factory, and a "crash" is a worker that claimed a
step or called the provider and then never recorded anything.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.outbox import OutboxMessage, utcnow
from emporium.kit.testing.polling import eventually
from emporium.orders.app import OUTBOX
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder, Payment, SimulatedCharge
from emporium.orders.order import repository
from emporium.orders.order.service import request_refund
from emporium.orders.payment.provider import (
    ChargeResult,
    OutcomeUnknown,
    PaymentProvider,
    ProviderUnavailable,
    RefundResult,
)
from emporium.orders.payment.simulated import SimulatedProvider
from emporium.orders.saga.handlers import charge_key, refund_key
from emporium.orders.saga.payments import PaymentWorker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


def _worker(
    database: Database, provider: PaymentProvider | None = None, **kwargs: float
) -> PaymentWorker:
    return PaymentWorker(
        database,
        provider or SimulatedProvider(database),
        EventPublisher(OUTBOX),
        backoff_seconds=0,
        lease_seconds=kwargs.get("lease_seconds", 30),
        call_timeout_seconds=kwargs.get("call_timeout_seconds", 60),
        max_attempts=int(kwargs.get("max_attempts", 3)),
    )


class SlowFirstCharge:
    """A provider stub (the provider is an edge we do not own) over the simulated one.

    The first charge hangs until ``release`` is set: with ``lands_first`` the provider takes
    the money at once and only the answer is late, else the request itself reaches the
    provider late. Later charges are refused (``later="unavailable"``), answered as the
    simulated provider answers (``"answer"``), or lost (``"unknown"``). Refunds pass through.
    """

    def __init__(self, inner: SimulatedProvider, *, lands_first: bool, later: str) -> None:
        self.inner = inner
        self.lands_first = lands_first
        self.later = later
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, card_token: str
    ) -> ChargeResult:
        self.calls += 1
        args = {
            "idempotency_key": idempotency_key,
            "amount": amount,
            "currency": currency,
            "card_token": card_token,
        }
        if self.calls == 1:
            landed = await self.inner.charge(**args) if self.lands_first else None
            self.started.set()  # with lands_first, once the money is taken
            await self.release.wait()
            return landed or await self.inner.charge(**args)
        if self.later == "unavailable":
            raise ProviderUnavailable("refused before acceptance")
        if self.later == "unknown":
            raise OutcomeUnknown("connection reset after sending")
        return await self.inner.charge(**args)

    async def refund(self, *, idempotency_key: str, charge_key: str) -> RefundResult:
        return await self.inner.refund(idempotency_key=idempotency_key, charge_key=charge_key)


async def _until_settled(worker: PaymentWorker, database: Database, order_id: UUID) -> None:
    """Run ``worker`` until the payment is in a final status (bounded, no clock)."""
    for _ in range(20):
        async with database.session() as session:
            payment = await session.get(Payment, order_id, populate_existing=True)
            assert payment is not None
            if payment.status in ("captured", "declined", "failed", "refunded"):
                return
        await worker.tick()
    raise AssertionError(f"payment still {payment.status}")


def pending_order(order_id: UUID, *, token: str = "tok_visa", amount: int = 4200) -> CustomerOrder:
    """A pending order (to add to a session), as checkout leaves it."""
    now = utcnow()
    return CustomerOrder(
        id=order_id,
        customer_id=uuid.uuid4(),
        status="pending",
        total_amount=amount,
        currency="EUR",
        card_token=token,
        idempotency_key=order_id.hex,
        request_hash="x",
        created_at=now,
        updated_at=now,
    )


async def create_order(database: Database, *, token: str = "tok_visa", amount: int = 4200) -> UUID:
    """A pending order whose stock is reserved: its payment step is due."""
    order_id, now = uuid.uuid4(), utcnow()
    async with database.session() as session:
        session.add(pending_order(order_id, token=token, amount=amount))
        await session.flush()
        session.add(
            Payment(
                order_id=order_id,
                status="charge_due",
                amount=amount,
                currency="EUR",
                charge_key=charge_key(order_id),
                refund_key=refund_key(order_id),
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    return order_id


async def _state(database: Database, order_id: UUID) -> tuple[str, str, int]:
    async with database.session() as session:
        order = await session.get(CustomerOrder, order_id)
        payment = await session.get(Payment, order_id)
        assert order is not None
        assert payment is not None
        charged = await session.scalar(
            select(func.count())
            .select_from(SimulatedCharge)
            .where(SimulatedCharge.idempotency_key == charge_key(order_id))
        )
        return order.status, payment.status, int(charged or 0)


async def _events(database: Database, order_id: UUID) -> list[str]:
    async with database.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.type)
            .where(OutboxMessage.key == str(order_id))
            .order_by(OutboxMessage.created_at)
        )
        return [t.split(".")[1] for t in rows]


async def test_the_provider_answers_a_repeated_key_with_the_first_answer(
    database: Database,
) -> None:
    provider = SimulatedProvider(database)
    first = await provider.charge(idempotency_key="k", amount=100, currency="EUR", card_token="t")
    again = await provider.charge(idempotency_key="k", amount=999, currency="EUR", card_token="t")
    assert first == again
    assert first.approved
    assert await provider.charged_total("k") == 100


async def test_the_provider_declines_tok_decline_and_is_down_for_tok_error(
    database: Database,
) -> None:
    provider = SimulatedProvider(database)
    declined = await provider.charge(
        idempotency_key="d", amount=1, currency="EUR", card_token="tok_decline"
    )
    assert (declined.outcome, declined.reason) == ("declined", "card declined")
    with pytest.raises(ProviderUnavailable):
        await provider.charge(idempotency_key="e", amount=1, currency="EUR", card_token="tok_error")


async def test_a_refund_is_applied_once_and_a_refund_first_voids_the_charge(
    database: Database,
) -> None:
    provider = SimulatedProvider(database)
    await provider.charge(idempotency_key="c", amount=500, currency="EUR", card_token="t")
    first = await provider.refund(idempotency_key="r", charge_key="c")
    again = await provider.refund(idempotency_key="r", charge_key="c")
    assert first.amount == again.amount == 500
    assert await provider.charged_total("c") == 0

    voided = await provider.refund(idempotency_key="r2", charge_key="c2")
    assert voided.amount == 0
    late = await provider.charge(idempotency_key="c2", amount=500, currency="EUR", card_token="t")
    assert (late.outcome, late.reason) == ("declined", "payment voided")


async def test_the_worker_charges_and_confirms(database: Database) -> None:
    order_id = await create_order(database)
    assert await _worker(database).tick()
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
    assert await _events(database, order_id) == ["OrderConfirmed"]


async def test_a_crash_after_the_charge_and_before_recording_it_charges_once(
    database: Database,
) -> None:
    order_id = await create_order(database)
    crashed = _worker(database)
    [step] = await crashed.claim()
    # The provider took the money, then the process died before the record transaction.
    await crashed.provider.charge(
        idempotency_key=step.charge_key, amount=step.amount, currency="EUR", card_token="tok_visa"
    )
    survivor = _worker(database)
    assert await survivor.claim() == []  # the lease still holds: nobody double-runs it
    [retaken] = await survivor.claim(now=utcnow() + timedelta(seconds=31))
    await survivor.run_step(retaken)
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
    assert await _events(database, order_id) == ["OrderConfirmed"]


async def test_a_crash_after_claiming_is_retaken_once_the_lease_ends(database: Database) -> None:
    order_id = await create_order(database)
    await _worker(database).claim()  # ... and died
    later = _worker(database)
    [step] = await later.claim(now=utcnow() + timedelta(seconds=31))
    await later.run_step(step)
    assert await _state(database, order_id) == ("confirmed", "captured", 1)


async def test_two_workers_finishing_the_same_step_record_it_once(database: Database) -> None:
    order_id = await create_order(database)
    slow, fast = _worker(database), _worker(database)
    [step] = await slow.claim()
    [again] = await fast.claim(now=utcnow() + timedelta(seconds=31))  # slow's lease ran out
    await fast.run_step(again)
    await slow.run_step(step)
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
    assert await _events(database, order_id) == ["OrderConfirmed"]


async def test_unavailable_is_retried_with_backoff_then_the_order_is_cancelled(
    database: Database,
) -> None:
    order_id = await create_order(database, token="tok_error")
    worker = _worker(database, max_attempts=3)
    for _ in range(3):
        assert await worker.tick()
    assert await _state(database, order_id) == ("cancelled", "failed", 0)
    assert await _events(database, order_id) == ["OrderCancelled"]


async def test_a_cancel_while_the_charge_is_in_flight_ends_with_the_money_back(
    database: Database,
) -> None:
    order_id = await create_order(database)
    charging = _worker(database)
    [step] = await charging.claim()
    # The customer cancels while the charge is on its way to the provider.
    async with database.session() as session:
        order = await session.get(CustomerOrder, order_id)
        assert order is not None
        order.status = "cancelled"
        await request_refund(session, order_id)
    refunding = _worker(database)
    [refund] = await refunding.claim()  # free at once: the cancel dropped the lease
    await charging.run_step(step)
    await refunding.run_step(refund)
    status, payment, _ = await _state(database, order_id)
    assert (status, payment) == ("cancelled", "refunded")
    assert await SimulatedProvider(database).charged_total(charge_key(order_id)) == 0


async def test_a_refund_before_the_in_flight_charge_lands_voids_it(database: Database) -> None:
    order_id = await create_order(database)
    charging = _worker(database)
    [step] = await charging.claim()
    async with database.session() as session:
        await request_refund(session, order_id)
    refunding = _worker(database)
    [refund] = await refunding.claim()
    await refunding.run_step(refund)  # the refund reaches the provider first
    await charging.run_step(step)
    assert await SimulatedProvider(database).charged_total(charge_key(order_id)) == 0
    _, payment, _ = await _state(database, order_id)
    assert payment == "refunded"


async def test_the_charge_is_committed_as_charging_before_the_provider_is_called(
    database: Database,
) -> None:
    order_id = await create_order(database)
    [step] = await _worker(database).claim()
    async with database.session() as session:
        payment = await session.get(Payment, order_id)
        assert payment is not None
        assert (payment.status, payment.attempts, payment.maybe_charged) == ("charging", 1, False)
    assert step.attempt == 1


@pytest.mark.parametrize("lands_first", [True, False], ids=["charged-early", "charged-late"])
async def test_a_charge_outliving_its_lease_then_an_outage_never_keeps_the_money(
    database: Database, lands_first: bool
) -> None:
    order_id = await create_order(database)
    simulated = SimulatedProvider(database)
    stub = SlowFirstCharge(simulated, lands_first=lands_first, later="unavailable")
    slow = _worker(database, stub)
    [step] = await slow.claim()
    first = asyncio.create_task(slow.run_step(step))
    await stub.started.wait()
    # The lease runs out while the first call waits; another worker takes the step over.
    other = _worker(database, stub)
    [taken] = await other.claim(now=utcnow() + timedelta(seconds=31))
    await other.run_step(taken)
    await _until_settled(other, database, order_id)
    status, payment, _ = await _state(database, order_id)
    assert (status, payment) == ("cancelled", "refunded")  # not "failed": it may have charged
    stub.release.set()
    await first  # the first call's answer lands after all that
    assert await _state(database, order_id) == ("cancelled", "refunded", 1)
    charged, refunded = await simulated.ledger(charge_key(order_id))
    assert charged - refunded == 0
    assert charged == (4200 if lands_first else 0)  # charged-late: the refund voided the key
    assert await _events(database, order_id) == ["OrderCancelled"]


@pytest.mark.parametrize("later", ["unavailable", "unknown"])
async def test_an_ambiguous_timeout_then_giving_up_refunds(database: Database, later: str) -> None:
    order_id = await create_order(database)
    simulated = SimulatedProvider(database)
    stub = SlowFirstCharge(simulated, lands_first=True, later=later)
    # The first call times out: long enough for its charge to land on a loaded machine
    # (a database write; 0.05 s was not always), then it hangs until the bound.
    worker = _worker(database, stub, call_timeout_seconds=1.0)
    await _until_settled(worker, database, order_id)
    status, payment, _ = await _state(database, order_id)
    assert (status, payment) == ("cancelled", "refunded")
    charged, refunded = await simulated.ledger(charge_key(order_id))
    assert (charged, refunded) == (4200, 4200)


async def test_a_charge_outliving_its_lease_confirms_and_charges_exactly_once(
    database: Database,
) -> None:
    order_id = await create_order(database)
    simulated = SimulatedProvider(database)
    stub = SlowFirstCharge(simulated, lands_first=True, later="answer")
    slow, other = _worker(database, stub), _worker(database, stub)
    [step] = await slow.claim()
    first = asyncio.create_task(slow.run_step(step))
    await stub.started.wait()
    [taken] = await other.claim(now=utcnow() + timedelta(seconds=31))
    await other.run_step(taken)
    stub.release.set()
    await first
    assert await _state(database, order_id) == ("confirmed", "captured", 1)
    assert await simulated.ledger(charge_key(order_id)) == (4200, 0)
    assert await _events(database, order_id) == ["OrderConfirmed"]


async def test_a_late_approval_for_a_payment_given_up_as_failed_is_refunded(
    database: Database,
) -> None:
    # A row left "failed" (before uncertain charges were recorded) while the money landed.
    order_id = await create_order(database)
    simulated = SimulatedProvider(database)
    stub = SlowFirstCharge(simulated, lands_first=True, later="unavailable")
    slow = _worker(database, stub)
    [step] = await slow.claim()
    first = asyncio.create_task(slow.run_step(step))
    await stub.started.wait()
    async with database.session() as session:
        order = await session.get(CustomerOrder, order_id)
        payment = await session.get(Payment, order_id)
        assert order is not None
        assert payment is not None
        order.status, payment.status, payment.lease_until = "cancelled", "failed", None
    stub.release.set()
    await first
    assert (await _state(database, order_id))[1] == "refund_due"
    await _until_settled(_worker(database, stub), database, order_id)
    charged, refunded = await simulated.ledger(charge_key(order_id))
    assert (charged, refunded) == (4200, 4200)


async def test_a_provider_refusing_every_attempt_ends_failed_with_nothing_owed(
    database: Database,
) -> None:
    order_id = await create_order(database, token="tok_error")
    worker = _worker(database, max_attempts=3)
    await _until_settled(worker, database, order_id)
    assert await _state(database, order_id) == ("cancelled", "failed", 0)
    async with database.session() as session:
        payment = await session.get(Payment, order_id)
        assert payment is not None
        assert (payment.attempts, payment.maybe_charged) == (3, False)


async def test_the_record_locks_the_order_before_the_payment(database: Database) -> None:
    """One statement locks both rows, in the order a customer's cancel takes them (the
    order, then the payment), so a record and a cancel never deadlock."""
    if not database.is_postgres:
        pytest.skip("SQLite serialises writers: no row locks")
    order_id = await create_order(database)
    other = Database(database.url)
    try:
        async with other.session() as holding:
            # Another transaction holds the payment row: the record must wait on it holding
            # the order already, never the other way round.
            await repository.payment(holding, order_id, lock=True)
            async with database.session() as recording:
                waiting = asyncio.create_task(
                    repository.get_with_payment_for_update(recording, order_id)
                )

                async def order_locked() -> bool:
                    try:
                        async with other.session() as probe:
                            await probe.execute(
                                select(CustomerOrder.id)
                                .where(CustomerOrder.id == order_id)
                                .with_for_update(nowait=True)
                            )
                    except DBAPIError:
                        return True
                    return False

                assert await eventually(order_locked, timeout=10)
                await holding.rollback()
                assert await waiting is not None
    finally:
        await other.dispose()
