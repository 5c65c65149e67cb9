"""A kit consumer as a process of its own, for the test that SIGKILLs it mid-batch.

    python consumer_proc.py DATABASE_URL KAFKA_BOOTSTRAP GROUP TOPIC DELAY_SECONDS

Each ``catalog.StockChanged.v1`` event becomes one ``effect`` row (as ``kit_rig`` does),
then the handler waits ``DELAY_SECONDS``, so a batch of 100 takes long enough to be killed
in the middle of. Prints ``started`` once its loop runs; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from sqlalchemy import Uuid, column, insert, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.events import Envelope

EFFECT = table("effect", column("event_id", Uuid), column("key"), column("seq"))


async def main(url: str, bootstrap: str, group: str, topic: str, delay: float) -> int:
    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(
            insert(EFFECT).values(
                event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"]
            )
        )
        await asyncio.sleep(delay)

    database = Database(url)
    bus = KafkaBus(bootstrap, request_timeout=10)
    await bus.start()
    consumer = EventConsumer(
        database,
        bus,
        group=group,
        topics=[topic],
        handlers={StockChanged.type_name(): apply},
        service_name="chaos-proc",
        max_attempts=3,
        batch_size=100,
        # One transaction per event, offsets per fetch: a kill lands between them. (A kill
        # between a batch transaction and its offsets: libs/kit's test_consumer_crash.py.)
        batch_transactions=False,
        poll_timeout=0.5,
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
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    url, bootstrap, group, topic, delay = sys.argv[1:]
    sys.exit(asyncio.run(main(url, bootstrap, group, topic, float(delay))))
