"""Payment steps claimed where the stock reservation is handled, handed to this process's worker.

A ``StockReserved`` used to commit a ``charge_due`` row and wake the payment workers (a
NOTIFY, which woke this process's worker a second time), and a worker then claimed the row
in a transaction of its own before calling the provider. The handler holds the order
locked anyway, so it now writes the row already claimed (``charging``, attempt 1, a lease:
what the worker's claim would write) in the inbox transaction and, once that commits,
hands the step to the ``PaymentWorker`` of its own process: per order one transaction, a
NOTIFY and the empty look after it fewer.

Nothing is lost on a crash: the step is a committed, leased ``charging`` row, exactly what
a claim leaves. A process that dies (or stops) before the call leaves it to whichever
worker finds its lease run out, which calls as ``maybe_charged`` with the same key (crash
window 4 of ``services/orders/README.md``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["PaymentHandoff", "PaymentStep"]

_STAGED = "emporium.orders.staged_payment_steps"


@dataclass(frozen=True)
class PaymentStep:
    """One claimed call to the provider: what the worker needs without reading the row."""

    order_id: UUID
    kind: Literal["charge", "refund"]
    attempt: int
    amount: int
    currency: str
    charge_key: str
    refund_key: str
    card_token: str | None


class PaymentHandoff:
    """Claimed steps on their way from a committed transaction to the worker.

    ``open`` only while a ``PaymentWorker`` of this process is attached (running): a
    handler with nobody to hand to leaves the row ``charge_due`` for the workers to claim.
    """

    def __init__(self, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self._steps: deque[PaymentStep] = deque()
        self._wake: Callable[[], None] | None = None

    @property
    def open(self) -> bool:
        return self._wake is not None

    def attach(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def detach(self) -> None:
        # Steps not taken yet stay claimed in the database until their lease runs out.
        self._wake = None
        self._steps.clear()

    def stage(self, session: AsyncSession, step: PaymentStep) -> None:
        """Hand ``step`` over once ``session``'s transaction commits (dropped on rollback)."""
        staged: list[PaymentStep] | None = session.info.get(_STAGED)
        if staged is None:
            staged = session.info[_STAGED] = []
            event.listen(session.sync_session, "after_commit", self._committed, once=True)
            event.listen(session.sync_session, "after_rollback", self._rolled_back, once=True)
        staged.append(step)

    def take(self) -> list[PaymentStep]:
        """Every step handed over so far (each once)."""
        steps = list(self._steps)
        self._steps.clear()
        return steps

    def _committed(self, session: Session) -> None:
        staged: list[PaymentStep] = session.info.pop(_STAGED, [])
        if self._wake is None:
            return  # the worker stopped meanwhile: the leases cover these rows
        self._steps.extend(staged)
        self._wake()

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(_STAGED, None)
