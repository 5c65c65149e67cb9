"""Events: published through the outbox to Kafka; order statistics from orders.events."""

from __future__ import annotations

import uuid
from typing import Any

from emporium.contracts.base import EventData
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.contracts.topics import CUSTOMERS_EVENTS, ORDERS_EVENTS
from emporium.customers.testing import Service, ServiceFactory
from emporium.kit.bus.base import Bus, Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.prefixed import with_topic_prefix
from emporium.kit.events import Envelope, wrap
from emporium.kit.testing import eventually


def _record(data: EventData, key: uuid.UUID) -> Record:
    envelope = wrap(data, source="orders", key=key)
    return Record(
        topic=ORDERS_EVENTS,
        value=envelope.to_bytes(),
        key=str(key).encode(),
        headers=tuple(envelope.headers()),
    )


async def _stats(svc: Service, headers: dict[str, str]) -> tuple[int, int]:
    me = (await svc.client.get("/me", headers=headers)).json()
    return me["order_count"], me["lifetime_spend"]["amount"]


async def _play_orders(bus: Bus, customer_id: uuid.UUID) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    confirmed = {"customer_id": customer_id, "currency": "EUR"}
    await bus.publish(
        [
            _record(OrderConfirmed(order_id=a, total_amount=1000, **confirmed), a),
            _record(OrderConfirmed(order_id=b, total_amount=2500, **confirmed), b),
            # b was confirmed, then cancelled: take back exactly what was counted.
            _record(
                OrderCancelled(
                    order_id=b,
                    customer_id=customer_id,
                    reason="customer",
                    was_confirmed=True,
                    total_amount=2500,
                ),
                b,
            ),
            # c was never confirmed (payment declined): nothing to take back.
            _record(
                OrderCancelled(order_id=c, customer_id=customer_id, reason="payment declined"),
                c,
            ),
            _record(OrderConfirmed(order_id=c, total_amount=700, **confirmed), c),
        ]
    )


async def test_order_statistics_follow_confirmations_and_cancellations(
    database_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(database_url, run_workers=True) as svc:
        customer_id, headers = await svc.customer("buyer@example.com")
        await _play_orders(svc.resources.require_bus(), uuid.UUID(customer_id))

        async def settled() -> bool:
            return await _stats(svc, headers) == (2, 1700)

        await eventually(settled, timeout=30)


async def test_events_go_to_kafka_and_orders_events_come_back(
    postgres_url: str, kafka_bootstrap: str, service_factory: ServiceFactory, unique: str
) -> None:
    # A topic prefix of this test's own: fresh topics and consumer groups on the shared broker.
    prefix = f"{unique}."
    async with service_factory(
        postgres_url,
        bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap,
        run_workers=True,
        topic_prefix=prefix,
        outbox_poll_seconds=0.2,
    ) as svc:
        customer_id, headers = await svc.customer("kafka@example.com", name="Kafka Fan")
        await svc.client.patch("/me", json={"name": "Franz"}, headers=headers)

        reader = with_topic_prefix(KafkaBus(kafka_bootstrap), prefix)
        await reader.start()
        try:
            subscription = reader.subscribe([CUSTOMERS_EVENTS], group=f"{unique}-reader")
            await subscription.start()
            seen: list[Envelope] = []

            async def both_published() -> bool:
                for delivery in await subscription.poll(timeout=0.5):
                    envelope = Envelope.from_bytes(delivery.value)
                    if envelope.key == customer_id:
                        seen.append(envelope)
                return len(seen) >= 2

            await eventually(both_published, timeout=60)
            await subscription.stop()

            registered: dict[str, Any] = seen[0].data
            assert seen[0].type == "customers.CustomerRegistered.v1"
            assert registered["email"] == "kafka@example.com"
            assert seen[1].type == "customers.CustomerUpdated.v1"
            assert seen[1].data["display_name"] == "Franz"

            await _play_orders(reader, uuid.UUID(customer_id))
        finally:
            await reader.stop()

        async def settled() -> bool:
            return await _stats(svc, headers) == (2, 1700)

        await eventually(settled, timeout=60)
