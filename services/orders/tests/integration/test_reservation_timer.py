"""The reservation deadline across bus outages: delayed orders are not cancelled.

Two levels: the ``Sweeper`` driven directly on SQLite and PostgreSQL with explicit times
(an ``OrderPlaced`` row unpublished, published late, a bus that does not answer), and the
whole app on the in-process bus with an outage longer than the old deadline, after which
the order completes once events flow.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update

from emporium.contracts.catalog import StockReserved
from emporium.contracts.orders import OrderPlaced
from emporium.kit.bus.base import Bus, BusUnavailable, Record, Subscription
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.outbox import SENT, OutboxMessage, utcnow
from emporium.kit.testing.polling import eventually
from emporium.orders.app import OUTBOX
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder
from emporium.orders.saga.sweeper import Sweeper

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TIMEOUT = 120.0


class FlakyBus(Bus):
    """A bus that can be taken down: publishing and ping fail while ``down``."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.down = False
        self.refused_pings: list[datetime] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        if self.down:
            raise BusUnavailable("the bus is down")
        await self.inner.publish(records)

    def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        return self.inner.subscribe(topics, group)

    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        await self.inner.ensure_topics(topics, partitions, config=config)

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self.inner.topic_config(topic)

    async def ping(self) -> None:
        if self.down:
            self.refused_pings.append(utcnow())
            raise BusUnavailable("the bus is down")
        await self.inner.ping()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


async def create_order(database: Database, *, record_event: bool = True) -> tuple[UUID, datetime]:
    """A pending order and its OrderPlaced outbox row (unpublished), as checkout leaves them."""
    order_id, customer_id, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    async with database.session() as session:
        order = CustomerOrder(
            id=order_id,
            customer_id=customer_id,
            status="pending",
            total_amount=100,
            currency="EUR",
            card_token="tok_visa",
            idempotency_key=order_id.hex,
            request_hash="x",
            created_at=now,
            updated_at=now,
        )
        session.add(order)
        placed = await EventPublisher(OUTBOX).publish(
            session,
            OrderPlaced(
                order_id=order_id,
                customer_id=customer_id,
                lines=[],
                total_amount=100,
                currency="EUR",
            ),
            key=order_id,
        )
        if record_event:
            order.placed_event_id = placed.id
    return order_id, now


async def _published(database: Database, order_id: UUID, at: datetime) -> None:
    """What the relay does once the bus is back: the row is sent, stamped ``at``."""
    async with database.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.key == str(order_id), OutboxMessage.type == OrderPlaced.type_name()
            )
            .values(status=SENT, sent_at=at)
        )


async def _status(database: Database, order_id: UUID) -> str:
    async with database.session() as session:
        order = await session.get(CustomerOrder, order_id)
        assert order is not None
        return order.status


def _sweeper(database: Database, bus: Bus | None = None) -> Sweeper:
    return Sweeper(database, EventPublisher(OUTBOX), timeout_seconds=TIMEOUT, bus=bus)


async def test_an_order_whose_event_is_still_unpublished_is_never_timed_out(
    database: Database,
) -> None:
    order_id, placed = await create_order(database)
    assert await _sweeper(database).sweep(now=placed + timedelta(hours=1)) == 0
    assert await _status(database, order_id) == "pending"


async def test_the_deadline_counts_from_publication_after_a_five_minute_outage(
    database: Database,
) -> None:
    order_id, placed = await create_order(database)
    sent = placed + timedelta(minutes=5)  # the bus was down for five minutes
    await _published(database, order_id, sent)
    sweeper = _sweeper(database)
    assert await sweeper.sweep(now=sent + timedelta(seconds=TIMEOUT - 1)) == 0
    assert await _status(database, order_id) == "pending"
    assert await sweeper.sweep(now=sent + timedelta(seconds=TIMEOUT + 1)) == 1
    assert await _status(database, order_id) == "cancelled"


async def test_an_order_without_a_recorded_event_counts_from_checkout(database: Database) -> None:
    order_id, placed = await create_order(database, record_event=False)
    sweeper = _sweeper(database)
    assert await _status(database, order_id) == "pending"
    assert await sweeper.sweep(now=placed + timedelta(seconds=TIMEOUT - 1)) == 0
    assert await sweeper.sweep(now=placed + timedelta(seconds=TIMEOUT + 1)) == 1
    assert await _status(database, order_id) == "cancelled"


async def test_a_bus_seen_down_restarts_the_timeout_of_published_orders(
    database: Database,
) -> None:
    order_id, placed = await create_order(database)
    await _published(database, order_id, placed)
    bus = FlakyBus(InMemoryBus())
    await bus.start()
    try:
        sweeper = _sweeper(database, bus)
        outage = placed + timedelta(seconds=TIMEOUT + 30)  # past the deadline, bus down
        bus.down = True
        assert await sweeper.sweep(now=outage) == 0
        assert bus.refused_pings
        bus.down = False
        assert await sweeper.sweep(now=outage + timedelta(seconds=TIMEOUT - 1)) == 0
        assert await _status(database, order_id) == "pending"
        assert await sweeper.sweep(now=outage + timedelta(seconds=TIMEOUT + 1)) == 1
    finally:
        await bus.stop()


class TestAnOutageLongerThanTheTimeout:
    """The whole app on the in-process bus: the outage outlasts the deadline, then ends."""

    @pytest.fixture
    def flaky(self) -> dict[str, FlakyBus]:
        return {}

    @pytest.fixture
    def wrap_bus(self, flaky: dict[str, FlakyBus]) -> Callable[[Bus], Bus]:
        def wrap(bus: Bus) -> Bus:
            flaky["bus"] = FlakyBus(bus)
            return flaky["bus"]

        return wrap

    @pytest.fixture
    def app_settings(self) -> dict[str, Any]:
        return {"reservation_timeout_seconds": 3.0}

    @pytest.mark.parametrize("backend", ["embedded"], indirect=True)
    async def test_the_order_waits_out_the_outage_and_completes(
        self, orders: Any, flaky: dict[str, FlakyBus]
    ) -> None:
        bus = flaky["bus"]
        customer = uuid.uuid4()
        product = await orders.product(price=1250)
        assert (await orders.add(customer, product, 1)).status_code == 200
        bus.down = True
        response = await orders.checkout(customer)
        assert response.status_code == 202, response.text
        order = response.json()
        old_deadline = datetime.fromisoformat(order["created_at"]) + timedelta(seconds=3)

        async def sweeper_saw_the_outage_past_the_old_deadline() -> bool:
            later = [at for at in bus.refused_pings if at > old_deadline + timedelta(seconds=1)]
            return len(later) >= 3

        await eventually(sweeper_saw_the_outage_past_the_old_deadline, timeout=60)
        assert (await orders.order(customer, order["id"]))["status"] == "pending"
        bus.down = False
        # Catalog's side: it reads OrderPlaced once the relay publishes it, and answers.
        assert await orders.events(order["id"], count=1, timeout=60) == ["OrderPlaced"]
        await orders.publish(StockReserved(order_id=UUID(order["id"])), UUID(order["id"]))
        await orders.until_status(customer, order["id"], "confirmed", timeout=60)
