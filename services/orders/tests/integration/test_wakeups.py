"""The saga is woken, not polled: with every poll interval at 60 s an order still goes on.

The outbox relay, the payment worker and the sweeper poll once a minute here, and the tests
wait at most 30 s: so what they see came from a wake-up. The payment the ``StockReserved``
handler claims is handed to the payment worker as the consumer's transaction commits
(in-process, ``saga/handoff.py``); a payment made due in another process (a row and a
``NOTIFY`` from another connection) wakes it through its PostgreSQL ``LISTEN``; a refund
asked for through the API wakes it too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import func, select

from emporium.contracts.catalog import StockReserved
from emporium.kit.db import Database
from emporium.kit.listen import asyncpg_dsn
from emporium.kit.testing import eventually
from emporium.orders.models import SimulatedCharge, SimulatedRefund
from emporium.orders.saga.handlers import charge_key, refund_key
from emporium.orders.saga.signals import PAYMENTS_DUE

from .test_payments import _state, _worker, create_order

SLOW_POLLS = {
    "outbox_poll_seconds": 60.0,
    "payment_poll_seconds": 60.0,
    "sweeper_interval_seconds": 60.0,
}


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return dict(SLOW_POLLS)


async def test_an_order_confirms_without_waiting_for_any_poll(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    confirmed = await orders.until_status(customer, order["id"], "confirmed", timeout=30)
    assert [h["status"] for h in confirmed["history"]] == ["pending", "confirmed"]
    # The relay was woken too: OrderConfirmed is on the bus long before its 60 s poll.
    assert await orders.events(order["id"], count=2, timeout=30) == [
        "OrderPlaced",
        "OrderConfirmed",
    ]


async def test_a_refund_asked_for_through_the_api_is_paid_without_waiting_for_the_poll(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    await orders.until_status(customer, order["id"], "confirmed", timeout=30)
    response = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert response.status_code == 200, response.text

    async def refunded() -> bool:
        async with orders.database.session() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(SimulatedRefund)
                .where(SimulatedRefund.idempotency_key == refund_key(order["id"]))
            )
        assert found == 1
        return True

    await eventually(refunded, timeout=30)


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    from .test_payments import MIGRATIONS, upgrade_to_head

    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, postgres_url)
    database = Database(postgres_url)
    yield database
    await database.dispose()


@pytest.mark.integration
async def test_a_payment_made_due_by_another_process_wakes_the_worker(
    postgres: Database,
) -> None:
    worker = _worker(postgres)
    worker.interval = 60.0
    await worker.start()
    try:

        async def listening() -> bool:
            assert worker.listening, "the payment worker's LISTEN connection is not up"
            return True

        await eventually(listening, timeout=30)
        await asyncio.sleep(0.2)  # its first round (at start) has found nothing
        order_id = await create_order(postgres)  # committed without any in-process signal
        connection = await asyncpg.connect(asyncpg_dsn(postgres.url))
        try:
            await connection.execute("SELECT pg_notify($1, '')", PAYMENTS_DUE.channel)
        finally:
            await connection.close()

        async def charged() -> bool:
            assert await _state(postgres, order_id) == ("confirmed", "captured", 1)
            return True

        await eventually(charged, timeout=30)
    finally:
        await worker.stop()
    async with postgres.session() as session:
        charges = await session.scalar(
            select(func.count())
            .select_from(SimulatedCharge)
            .where(SimulatedCharge.idempotency_key == charge_key(order_id))
        )
    assert charges == 1
