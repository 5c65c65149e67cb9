"""The saga's workers have database connections of their own.

While HTTP requests hold every connection of the requests' pool (two here: pool size 1, as
many on overflow), a placed order is still reserved, charged and confirmed: the consumer,
the payment worker and the relay take theirs from the workers' pool, not from the requests'.
On SQLite there is one engine for both (``Database.for_workers``), so this runs on
PostgreSQL + Kafka only.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, text

from emporium.contracts.catalog import StockReserved
from emporium.kit.testing import eventually
from emporium.orders.models import CustomerOrder


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"database_pool_size": 1, "database_worker_pool_size": 2}


async def test_an_order_confirms_while_requests_hold_every_request_connection(
    orders: Any, backend: Any
) -> None:
    if backend.kind != "real":
        pytest.skip("SQLite: the workers and the requests share one engine")
    customer = uuid.uuid4()
    order = await orders.place(customer)
    order_id = UUID(order["id"])
    workers = orders.database.for_workers()
    assert workers is not orders.database

    async with contextlib.AsyncExitStack() as held:
        for _ in range(2):
            connection = await held.enter_async_context(orders.database.engine.connect())
            await connection.execute(text("SELECT 1"))
        await orders.publish(StockReserved(order_id=order_id), order_id)

        async def confirmed() -> bool:
            async with workers.session() as session:
                status = await session.scalar(
                    select(CustomerOrder.status)
                    .where(CustomerOrder.id == order_id)
                    .execution_options(populate_existing=True)
                )
            assert status == "confirmed"
            return True

        await eventually(confirmed, timeout=30)
        # The relay published the confirmation meanwhile.
        assert await orders.events(order_id, count=2, timeout=30) == [
            "OrderPlaced",
            "OrderConfirmed",
        ]
