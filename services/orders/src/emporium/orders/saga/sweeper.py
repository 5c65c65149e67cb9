"""Cancels pending orders catalog has not answered in time (``reservation_timeout``).

The time counts from when catalog could have seen the order (``saga/deadline.py``): the
``OrderPlaced`` row's publication, and never before the bus was last seen down, so a bus
outage delays orders and cancels none.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from emporium.kit.bus.base import Bus
from emporium.kit.db import Database
from emporium.kit.outbox import database_clock
from emporium.orders.common import EventPublisher
from emporium.orders.order import repository
from emporium.orders.order.service import apply
from emporium.orders.order.state import Status, Trigger
from emporium.orders.saga.deadline import is_overdue
from emporium.orders.saga.loop import PeriodicWorker

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)


class Sweeper(PeriodicWorker):
    """Pending orders with no ``StockReserved``/``Rejected`` after ``timeout`` → cancelled.

    The ``OrderCancelled`` it publishes makes catalog release whatever it reserved late.
    With a ``bus``, each round pings it first; a failed ping (``bus_down_at``) restarts every
    pending order's timeout (kept in memory: a restarted sweeper relies on ``sent_at`` alone).
    """

    def __init__(
        self,
        database: Database,
        publisher: EventPublisher,
        *,
        timeout_seconds: float,
        interval: float = 5.0,
        batch_size: int = 50,
        bus: Bus | None = None,
        ping_timeout_seconds: float = 5.0,
    ) -> None:
        super().__init__("sweeper", interval)
        self.database = database
        self.publisher = publisher
        self.timeout = timedelta(seconds=timeout_seconds)
        self.batch_size = batch_size
        self.bus = bus
        self.ping_timeout_seconds = ping_timeout_seconds
        self.bus_down_at: datetime | None = None

    async def tick(self) -> bool:
        return await self.sweep() >= self.batch_size

    async def _database_now(self) -> datetime:
        # The relay stamps sent_at with the database's clock: measure against the same one.
        async with self.database.session() as session:
            now: datetime | None = await session.scalar(select(database_clock()))
        assert now is not None
        return now

    async def _check_bus(self, now: datetime) -> None:
        if self.bus is None:
            return
        try:
            await asyncio.wait_for(self.bus.ping(), timeout=self.ping_timeout_seconds)
        except Exception as error:
            if self.bus_down_at is None or now > self.bus_down_at:
                self.bus_down_at = now
            log.warning("sweeper: the bus does not answer (%r); cancelling nothing", error)

    async def sweep(self, now: datetime | None = None) -> int:
        """Cancel what is overdue at ``now``; returns how many orders it cancelled."""
        now = now or await self._database_now()
        await self._check_bus(now)
        before = now - self.timeout
        if self.bus_down_at is not None and self.bus_down_at >= before:
            return 0  # the bus was down within the timeout: nothing can be overdue
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
                row = await repository.placed_row(session, order.placed_event_id)
                if not is_overdue(
                    now=now,
                    placed_at=order.created_at,
                    row=row,
                    timeout=self.timeout,
                    bus_down_at=self.bus_down_at,
                ):
                    continue
                seconds = int(self.timeout.total_seconds())
                reason = f"no answer from the stock reservation within {seconds} s"
                await apply(session, self.publisher, order, Trigger.TIMED_OUT, reason)
                cancelled += 1
        return cancelled
