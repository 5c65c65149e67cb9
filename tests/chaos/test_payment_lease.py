"""Charges that outlive their lease, with several payment workers on one PostgreSQL.

The payment provider is an edge we do not own, so it is a stub here, over the simulated
provider (which keeps the books: what was charged and refunded under each key). For each
order the *first* charge call hangs past its lease and only answers once another worker has
finished with the order; the calls after it are, per order:

- ``down``: refused (``ProviderUnavailable``) every time, so the worker that took over gives
  up and the order is cancelled;
- ``ok``: answered by the provider, so the order is confirmed.

and the first call either takes the money at once (``early``: only its answer is late) or
reaches the provider late (``late``: after everything else). Five workers (each with its own
connection pool, as five pods would have), four orders: one worker is always free to take
over. Invariants: a cancelled order is never left charged (charged - refunded = 0) and a
confirmed order is charged exactly once and refunded nothing; each order gets exactly one
final event.

Uses the shared PostgreSQL (a database of its own) and breaks nothing shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import select

from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.outbox import OutboxMessage, utcnow
from emporium.kit.testing.polling import eventually
from emporium.orders.app import OUTBOX
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder, Payment
from emporium.orders.payment.provider import ChargeResult, ProviderUnavailable, RefundResult
from emporium.orders.payment.simulated import SimulatedProvider
from emporium.orders.saga.handlers import charge_key, refund_key
from emporium.orders.saga.payments import PaymentWorker

pytestmark = [pytest.mark.timeout(180)]

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "orders" / "migrations"
AMOUNT = 4200
WORKERS = 5
LEASE_SECONDS = 0.3
#: Payment statuses nobody works on any more (the assertions then say which is wrong).
FINAL = ("captured", "declined", "failed", "refunded")


@dataclass(frozen=True)
class Plan:
    later: str  # "down" | "ok"
    first: str  # "early" | "late"


PLANS = [Plan("down", "early"), Plan("down", "late"), Plan("ok", "early"), Plan("ok", "late")]


class LeaseOutlivingProvider:
    """The stub: each key's first charge answers only after another worker is done."""

    def __init__(self, database: Database, plans: dict[str, Plan]) -> None:
        self.inner = SimulatedProvider(database)
        self.database = database
        self.plans = plans
        self.calls: dict[str, int] = {}
        self.first_answered: set[str] = set()

    async def _done_elsewhere(self, key: str) -> None:
        """Wait (bounded) until the order's payment is settled by someone else."""

        async def settled() -> bool:
            async with self.database.session() as session:
                status = await session.scalar(
                    select(Payment.status)
                    .where(Payment.charge_key == key)
                    .execution_options(populate_existing=True)
                )
            assert status in FINAL, status
            return True

        await eventually(settled, timeout=60)

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, card_token: str
    ) -> ChargeResult:
        plan = self.plans[idempotency_key]
        self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1

        async def real() -> ChargeResult:
            return await self.inner.charge(
                idempotency_key=idempotency_key,
                amount=amount,
                currency=currency,
                card_token="tok_visa",
            )

        if self.calls[idempotency_key] == 1:
            landed = await real() if plan.first == "early" else None
            await self._done_elsewhere(idempotency_key)
            answer = landed or await real()
            self.first_answered.add(idempotency_key)
            return answer
        if plan.later == "down":
            raise ProviderUnavailable("refused before acceptance")
        return await real()

    async def refund(self, *, idempotency_key: str, charge_key: str) -> RefundResult:
        return await self.inner.refund(idempotency_key=idempotency_key, charge_key=charge_key)


async def _create_order(database: Database) -> UUID:
    order_id, now = uuid.uuid4(), utcnow()
    async with database.session() as session:
        session.add(
            CustomerOrder(
                id=order_id,
                customer_id=uuid.uuid4(),
                status="pending",
                total_amount=AMOUNT,
                currency="EUR",
                card_token="tok_visa",
                idempotency_key=order_id.hex,
                request_hash="x",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            Payment(
                order_id=order_id,
                status="charge_due",
                amount=AMOUNT,
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


@pytest.fixture
async def databases(postgres_url: str) -> AsyncIterator[list[Database]]:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, postgres_url)
    made = [Database(postgres_url) for _ in range(WORKERS + 1)]
    try:
        yield made
    finally:
        for database in made:
            await database.dispose()


async def test_no_cancelled_order_keeps_money_and_confirmed_ones_are_charged_once(
    databases: list[Database],
) -> None:
    books, *pods = databases
    orders = {await _create_order(books): plan for plan in PLANS}
    provider = LeaseOutlivingProvider(
        books, {charge_key(order_id): plan for order_id, plan in orders.items()}
    )
    workers = [
        PaymentWorker(
            database,
            provider,
            EventPublisher(OUTBOX),
            max_attempts=4,
            backoff_seconds=0.02,
            backoff_cap_seconds=0.1,
            lease_seconds=LEASE_SECONDS,
            call_timeout_seconds=90,  # far beyond the lease: the lease is what runs out
            poll_seconds=0.02,
            batch_size=1,
        )
        for database in pods
    ]
    for worker in workers:
        await worker.start()
    try:

        async def all_answered() -> bool:
            assert provider.first_answered == set(provider.plans), provider.first_answered
            return True

        await eventually(all_answered, timeout=120)

        async def all_settled() -> dict[UUID, tuple[str, str]]:
            async with books.session() as session:
                rows = (
                    await session.execute(
                        select(CustomerOrder.id, CustomerOrder.status, Payment.status)
                        .join(Payment, Payment.order_id == CustomerOrder.id)
                        .execution_options(populate_existing=True)
                    )
                ).all()
            found = {row[0]: (row[1], row[2]) for row in rows}
            assert all(p in FINAL for _, p in found.values()), found
            return found

        settled = await eventually(all_settled, timeout=60)
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.stop()

    for order_id, plan in orders.items():
        charged, refunded = await provider.inner.ledger(charge_key(order_id))
        status, payment = settled[order_id]
        assert provider.calls[charge_key(order_id)] >= 2, "the lease never ran out"
        if plan.later == "down":
            assert (status, payment) == ("cancelled", "refunded"), plan
            assert charged - refunded == 0, (plan, charged, refunded)
        else:
            assert (status, payment) == ("confirmed", "captured"), plan
            assert (charged, refunded) == (AMOUNT, 0), plan
        async with books.session() as session:
            events = list(
                await session.scalars(
                    select(OutboxMessage.type).where(OutboxMessage.key == str(order_id))
                )
            )
        expected = (
            "orders.OrderCancelled.v2" if plan.later == "down" else "orders.OrderConfirmed.v2"
        )
        assert events == [expected], (plan, events)
