"""A consumer process for the crash tests: applies events slowly until it is killed.

    python consumer_proc.py DATABASE_URL KAFKA_BOOTSTRAP GROUP TOPIC DELAY_SECONDS [MODE]

Each ``catalog.StockChanged.v1`` event becomes one row of ``effect`` (event id, key, and
``on_hand`` as the sequence number), written in the handler's transaction with the inbox
row. MODE ``per-event`` (the default): a transaction per event, the handler then waits
``DELAY_SECONDS`` so the test can kill the process in the middle of a batch. MODE
``batched``: fetched batches of 10 in one transaction each, and the offsets' commit waits
``DELAY_SECONDS`` first, so the test can kill the process after a batch's transaction
committed and before Kafka knows. Prints ``started`` once running; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from sqlalchemy import Uuid, column, insert, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus.kafka import KafkaBus, KafkaSubscription
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.events import Envelope

EFFECT = table("effect", column("event_id", Uuid), column("key"), column("seq"))


async def main(url: str, bootstrap: str, group: str, topic: str, delay: float, mode: str) -> int:
    batched = mode == "batched"

    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(
            insert(EFFECT).values(
                event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"]
            )
        )
        if not batched:
            await asyncio.sleep(delay)

    if batched:
        commit = KafkaSubscription.commit

        async def slow_commit(self: KafkaSubscription) -> None:
            await asyncio.sleep(delay)
            await commit(self)

        KafkaSubscription.commit = slow_commit  # type: ignore[method-assign]

    database = Database(url)
    bus = KafkaBus(bootstrap, request_timeout=10)
    await bus.start()
    consumer = EventConsumer(
        database,
        bus,
        group=group,
        topics=[topic],
        handlers={StockChanged.type_name(): apply},
        service_name="consumer-proc",
        batch_size=10 if batched else 100,
        batch_transactions=batched,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    print("started", flush=True)
    try:
        await stop.wait()
    finally:
        await consumer.stop()
        await bus.stop()
        await database.dispose()
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    url, bootstrap, group, topic, delay = sys.argv[1:6]
    mode = sys.argv[6] if len(sys.argv) == 7 else "per-event"
    sys.exit(asyncio.run(main(url, bootstrap, group, topic, float(delay), mode)))
