"""The simulated payment provider that ships with the platform.

It keeps its own state (``simulated_charge``, ``simulated_refund``) and behaves like a real
provider toward the saga: idempotency keys, declines, outages, and refunds by key that void
a charge not made yet (a charge arriving after it is declined, "payment voided").
``ledger`` gives what was charged and refunded under a key. Card tokens:

- ``tok_decline``: declined;
- ``tok_error``: the provider is unavailable (``ProviderUnavailable``) on every attempt;
- anything else: approved.

Each call is one short transaction of its own, as a remote provider would be: the saga
never calls it inside a transaction of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.db import Database
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow
from emporium.orders.models import SimulatedCharge, SimulatedRefund
from emporium.orders.payment.provider import ChargeResult, ProviderUnavailable, RefundResult

__all__ = ["DECLINING_TOKEN", "FAILING_TOKEN", "SimulatedProvider"]

DECLINING_TOKEN = "tok_decline"
FAILING_TOKEN = "tok_error"


def _insert_or_nothing(session: AsyncSession, table: Table, values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).values(values).on_conflict_do_nothing()


def _charge_result(status: str, reference: str) -> ChargeResult:
    if status == "approved":
        return ChargeResult(outcome="approved", reference=reference)
    reason = "card declined" if status == "declined" else "payment voided"
    return ChargeResult(outcome="declined", reference=reference, reason=reason)


class SimulatedProvider:
    """A ``PaymentProvider`` over the service's database (its own tables)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._charges: Table = SimulatedCharge.__table__  # type: ignore[assignment]

    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, card_token: str
    ) -> ChargeResult:
        if card_token == FAILING_TOKEN:
            raise ProviderUnavailable("the payment provider is unavailable")
        status = "declined" if card_token == DECLINING_TOKEN else "approved"
        async with self.database.session() as session:
            # Insert-or-nothing, and read only if it was nothing (the key's row is older): two
            # calls with one key race to the same row, and a first call is one statement.
            insert = _insert_or_nothing(
                session,
                self._charges,
                {
                    "idempotency_key": idempotency_key,
                    "reference": f"ch_{uuid7().hex}",
                    "status": status,
                    "amount": amount,
                    "currency": currency,
                    "card_token": card_token,
                    "refunded_amount": 0,
                    "created_at": utcnow(),
                },
            )
            columns = self._charges.c
            made = (
                await session.execute(insert.returning(columns.status, columns.reference))
            ).first()
            if made is not None:
                return _charge_result(made.status, made.reference)
            charge = await session.get(SimulatedCharge, idempotency_key, populate_existing=True)
            assert charge is not None
            return _charge_result(charge.status, charge.reference)

    async def refund(self, *, idempotency_key: str, charge_key: str) -> RefundResult:
        async with self.database.session() as session:
            # A refund before the charge voids the key, so the late charge cannot succeed.
            void = _insert_or_nothing(
                session,
                self._charges,
                {
                    "idempotency_key": charge_key,
                    "reference": f"ch_{uuid7().hex}",
                    "status": "voided",
                    "amount": 0,
                    "currency": "XXX",
                    "card_token": "",
                    "refunded_amount": 0,
                    "created_at": utcnow(),
                },
            )
            await session.execute(void)
            charge = await session.scalar(
                select(SimulatedCharge)
                .where(SimulatedCharge.idempotency_key == charge_key)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            assert charge is not None
            done = await session.get(SimulatedRefund, idempotency_key)
            if done is not None:
                return RefundResult(reference=f"re_{idempotency_key}", amount=done.amount)
            amount = 0
            if charge.status == "approved":
                amount = charge.amount - charge.refunded_amount
                charge.refunded_amount += amount
            session.add(
                SimulatedRefund(
                    idempotency_key=idempotency_key,
                    charge_key=charge_key,
                    amount=amount,
                    created_at=utcnow(),
                )
            )
            return RefundResult(reference=f"re_{idempotency_key}", amount=amount)

    async def ledger(self, charge_key: str) -> tuple[int, int]:
        """``(charged, refunded)`` under ``charge_key``, each from its own records: the
        approved charge's amount, and the sum of the refunds made against it."""
        async with self.database.session() as session:
            charged = await session.scalar(
                select(func.coalesce(func.sum(SimulatedCharge.amount), 0)).where(
                    SimulatedCharge.idempotency_key == charge_key,
                    SimulatedCharge.status == "approved",
                )
            )
            refunded = await session.scalar(
                select(func.coalesce(func.sum(SimulatedRefund.amount), 0)).where(
                    SimulatedRefund.charge_key == charge_key
                )
            )
            return int(charged or 0), int(refunded or 0)

    async def charged_total(self, idempotency_key: str) -> int:
        """What the charge under ``idempotency_key`` holds now (charged minus refunded)."""
        async with self.database.session() as session:
            value = await session.scalar(
                select(func.coalesce(SimulatedCharge.amount - SimulatedCharge.refunded_amount, 0))
                .where(SimulatedCharge.idempotency_key == idempotency_key)
                .where(SimulatedCharge.status == "approved")
            )
            return int(value or 0)
