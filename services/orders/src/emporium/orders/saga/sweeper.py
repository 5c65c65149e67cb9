"""Cancels pending orders catalog has not answered in time (``reservation_timeout``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from emporium.kit.db import Database
from emporium.kit.outbox import utcnow
from emporium.orders.common import EventPublisher
from emporium.orders.order import repository
from emporium.orders.order.service import apply
from emporium.orders.order.state import Status, Trigger
from emporium.orders.saga.loop import PeriodicWorker

__all__ = ["Sweeper"]


class Sweeper(PeriodicWorker):
    """Pending orders with no ``StockReserved``/``Rejected`` after ``timeout`` → cancelled.

    The ``OrderCancelled`` it publishes makes catalog release whatever it reserved late.
    """

    def __init__(
        self,
        database: Database,
        publisher: EventPublisher,
        *,
        timeout_seconds: float,
        interval: float = 5.0,
        batch_size: int = 50,
    ) -> None:
        super().__init__("sweeper", interval)
        self.database = database
        self.publisher = publisher
        self.timeout = timedelta(seconds=timeout_seconds)
        self.batch_size = batch_size

    async def tick(self) -> bool:
        return await self.sweep() >= self.batch_size

    async def sweep(self, now: datetime | None = None) -> int:
        """Cancel what is overdue at ``now``; returns how many orders it cancelled."""
        before = (now or utcnow()) - self.timeout
        async with self.database.session() as session:
            ids = await repository.stale_pending(session, before=before, limit=self.batch_size)
        cancelled = 0
        for order_id in ids:
            async with self.database.session() as session:
                order = await repository.get_for_update(session, order_id)
                # Re-check under the lock: catalog's answer may have arrived meanwhile.
                if order is None or order.status != Status.PENDING:
                    continue
                if await repository.payment(session, order_id) is not None:
                    continue
                seconds = int(self.timeout.total_seconds())
                reason = f"no answer from the stock reservation within {seconds} s"
                await apply(session, self.publisher, order, Trigger.TIMED_OUT, reason)
                cancelled += 1
        return cancelled
