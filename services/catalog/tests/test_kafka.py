"""The reservation flow on the real infrastructure: OrderPlaced from Kafka (redelivered),
reserved once in PostgreSQL, StockReserved, StockChanged v2 (per variant and location) and
product events relayed to Kafka."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

from emporium.catalog.inventory.handlers import order_handlers
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.testing import running_catalog
from emporium.contracts.catalog import StockChangedV2
from emporium.contracts.orders import OrderLine, OrderPlaced
from emporium.contracts.topics import CATALOG_EVENTS
from emporium.kit.bus.base import Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.prefixed import with_topic_prefix
from emporium.kit.consumer import EventConsumer
from emporium.kit.events import Envelope, wrap
from emporium.kit.relay import OutboxRelay
from emporium.kit.testing import eventually


async def test_order_placed_from_kafka_reserves_once_and_answers_on_kafka(
    postgres_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    # The app's own workers would consume the shared orders.events topic; this test feeds a
    # topic of its own instead, through the same handlers, consumer and relay.
    bus = KafkaBus(kafka_bootstrap)
    await bus.start()
    topic = f"{unique}.orders"
    try:
        await bus.ensure_topics([topic])
        async with running_catalog(
            postgres_url, tmp_path, settings={"run_workers": False}, bus=bus
        ) as catalog:
            product = await catalog.product(name="Kafka kettle")
            await catalog.stock(product["id"], 3)
            consumer = EventConsumer(
                catalog.database,
                bus,
                group=unique,
                topics=[topic],
                handlers=order_handlers(catalog.resources.cache),
                service_name="catalog",
                backoff_seconds=0.05,
            )
            # The answers go to topics of this test's own (fresh: nothing else to read).
            answering = with_topic_prefix(bus, f"{unique}.")
            relay = OutboxRelay(
                catalog.database, answering, service_name="catalog", poll_seconds=0.2, outbox=OUTBOX
            )
            answers = answering.subscribe([CATALOG_EVENTS], group=f"{unique}-reader")
            await answers.start()
            await consumer.start()
            await relay.start()
            try:
                order, marker = uuid4(), uuid4()

                def placed(order_id: UUID, quantity: int) -> Record:
                    data = OrderPlaced(
                        order_id=order_id,
                        customer_id=uuid4(),
                        lines=[
                            OrderLine(
                                product_id=UUID(product["id"]),
                                sku="x",
                                quantity=quantity,
                                unit_amount=1,
                            )
                        ],
                        total_amount=quantity,
                        currency="EUR",
                    )
                    envelope = wrap(data, source="orders", key=order_id)
                    # One Kafka key for all three: one partition, handled in this order.
                    return Record(
                        topic=topic,
                        value=envelope.to_bytes(),
                        key=str(order).encode(),
                        headers=tuple(envelope.headers()),
                    )

                first = placed(order, 2)
                await bus.publish([first])
                await bus.publish([first])  # redelivered
                await bus.publish([placed(marker, 1)])

                seen: list[Envelope] = []
                keys = {str(order), str(marker), product["id"]}

                async def answered() -> bool:
                    for delivery in await answers.poll(timeout=0.5):
                        decoded = Envelope.from_bytes(delivery.value)
                        if decoded.key in keys:
                            seen.append(decoded)
                    reserved = [e.key for e in seen if e.type == "catalog.StockReserved.v1"]
                    created = any(e.type == "catalog.ProductCreated.v2" for e in seen)
                    stocked = [e.data for e in seen if e.type == "catalog.StockChanged.v2"]
                    all_in = any(change["reserved"] == 3 for change in stocked)
                    return {str(order), str(marker)} <= set(reserved) and created and all_in

                # Product events travel the same way (ProductCreated, on its own key).
                await eventually(answered, timeout=60)
                body = (await catalog.client.get(f"/products/{product['id']}")).json()
                assert body["availability"] == {"in_stock": False, "available": 0}
                reserved = [e.key for e in seen if e.type == "catalog.StockReserved.v1"]
                assert sorted(reserved) == sorted([str(order), str(marker)])
                assert (await catalog.outbox_types(order)) == ["catalog.StockReserved.v1"]
                # Stock travels per variant and location (v2), on the product's key.
                changes = [
                    e.parse(StockChangedV2) for e in seen if e.type == StockChangedV2.type_name()
                ]
                assert {e.key for e in seen if e.type == StockChangedV2.type_name()} == {
                    product["id"]
                }
                assert [
                    (str(c.variant_id), str(c.product_id), c.location, c.on_hand, c.reserved)
                    for c in changes
                ] == [
                    (product["id"], product["id"], "default", 3, 0),
                    (product["id"], product["id"], "default", 3, 2),
                    (product["id"], product["id"], "default", 3, 3),
                ]
                assert changes[-1].available == changes[-1].variant_available == 0
                assert not any(e.type == "catalog.StockChanged.v1" for e in seen)
            finally:
                await relay.stop()
                await consumer.stop()
                await answers.stop()
    finally:
        await bus.stop()
