"""A kit consumer on the private infrastructure: events in Kafka, effects in PostgreSQL.

``ConsumerRig`` is one test's database (owned by the suite's non-superuser role), topic and
consumer group. ``publish(n)`` puts ``n`` ``catalog.StockChanged`` events straight into the
topic (the database may be down meanwhile: nothing here needs it); ``consumer()`` makes an
``EventConsumer`` whose handler writes one ``effect`` row per event (no unique constraint,
so a second application would show as a second row); ``counts()`` and ``dead_letters()``
read what happened from the database and from the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka.partitioner import DefaultPartitioner
from emporium_chaos_infra import PrivateKafka, PrivatePostgres, topic_sizes
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, insert
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.dlq import dead_letter_topic
from emporium.kit.events import Envelope, wrap
from emporium.kit.outbox import create_kit_tables

__all__ = ["ConsumerRig", "make_rig"]

#: Partitions of the rig's topic.
PARTITIONS = 3

METADATA = MetaData()
EFFECT = Table(
    "effect",
    METADATA,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("key", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
)


def spread_keys(count: int, partitions: int) -> list[uuid.UUID]:
    """``count`` aggregate ids whose keys the producer's partitioner spreads evenly over
    ``partitions`` (round robin: the i-th id lands in partition ``i % partitions``)."""
    every = list(range(partitions))
    wanted: dict[int, list[uuid.UUID]] = {partition: [] for partition in every}
    share = -(-count // partitions)
    while any(len(ids) < share for ids in wanted.values()):
        candidate = uuid.uuid4()
        partition = DefaultPartitioner()(str(candidate).encode(), every, every)
        if len(wanted[partition]) < share:
            wanted[partition].append(candidate)
    return [wanted[i % partitions][i // partitions] for i in range(count)]


@dataclass
class ConsumerRig:
    pg: PrivatePostgres
    kafka: PrivateKafka
    name: str
    url: str
    database: Database
    bus: KafkaBus
    published: list[uuid.UUID] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.name

    @property
    def group(self) -> str:
        return self.name

    async def publish(self, count: int, *, keys: int = 9) -> None:
        """``count`` events over ``keys`` aggregates, straight into the topic.

        The aggregates are chosen so each partition holds the same number of them: a member
        drains one partition's fetched records before the next, so with random keys a
        partition could hold few events (or none) and be drained before a newcomer is given
        it (a chaos run once saw the newcomer of the rebalance test apply none).
        """
        products = spread_keys(keys, PARTITIONS)
        records = []
        for seq in range(count):
            product = products[seq % keys]
            data = StockChanged(product_id=product, on_hand=seq, reserved=0, available=seq)
            envelope = wrap(data, source="chaos", key=product)
            self.published.append(envelope.id)
            records.append(
                Record(
                    topic=self.topic,
                    value=envelope.to_bytes(),
                    key=str(product).encode(),
                    headers=tuple(envelope.headers()),
                )
            )
        for start in range(0, len(records), 50):
            await self.bus.publish(records[start : start + 50])

    def consumer(
        self, *, delay: float = 0.0, bus: KafkaBus | None = None, tag: str = ""
    ) -> EventConsumer:
        """A member of the rig's group applying each event as one ``effect`` row.

        ``tag`` is written as the row's ``key`` (to tell which member applied it).
        """

        async def apply(session: AsyncSession, envelope: Envelope) -> None:
            await session.execute(
                insert(EFFECT).values(
                    event_id=envelope.id, key=tag or envelope.key, seq=envelope.data["on_hand"]
                )
            )
            if delay:
                await asyncio.sleep(delay)

        made = EventConsumer(
            self.database,
            bus or self.bus,
            group=self.group,
            topics=[self.topic],
            handlers={StockChanged.type_name(): apply},
            service_name="chaos",
            # Few attempts: an outage mistaken for the event's fault dead-letters quickly.
            max_attempts=3,
            backoff_seconds=0.1,
            max_backoff=2.0,
            poll_timeout=0.5,
            # Small fetches, so one stream spans many batch transactions and a fault or a
            # second member lands between them (a fetch of 500 is one transaction).
            batch_size=10,
        )
        self.consumers.append(made)
        return made

    async def counts(self) -> tuple[int, int, int]:
        """(effect rows, distinct events among them, inbox rows of the group), as superuser."""
        connection = await asyncpg.connect(self.pg.url(self.name), timeout=5)
        try:
            row = await connection.fetchrow(
                "SELECT count(*), count(DISTINCT event_id),"
                " (SELECT count(*) FROM inbox_message WHERE consumer_group = $1) FROM effect",
                self.group,
            )
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])
        finally:
            await connection.close()

    async def applied_ids(self) -> set[uuid.UUID]:
        rows: list[Any] = await self.pg.fetch("SELECT event_id FROM effect", database=self.name)
        return {row[0] for row in rows}

    async def dead_letters(self) -> int:
        sizes = await topic_sizes(self.kafka.bootstrap)
        return sizes.get(dead_letter_topic(self.group), 0)

    async def close(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        await self.bus.stop()
        await self.database.dispose()


async def make_rig(pg: PrivatePostgres, kafka: PrivateKafka, name: str, role: str) -> ConsumerRig:
    """A fresh database owned by ``role`` with the kit's tables and ``effect``, a topic."""
    url = await pg.create_database(name, owner=role)
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(create_kit_tables)
        await connection.run_sync(METADATA.create_all)
    bus = KafkaBus(kafka.bootstrap, request_timeout=10)
    await bus.start()
    await bus.ensure_topics([name], partitions=PARTITIONS)
    return ConsumerRig(pg, kafka, name, url, database, bus)
