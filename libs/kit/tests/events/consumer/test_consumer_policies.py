"""What the consumer does with each class of failure, on both stacks.

A payload that can never be applied is dead-lettered at once; the database being away or a
transaction conflict is waited out without using up attempts (and the database outage is
reported by ``readiness()``); a handler that runs past ``handler_timeout`` fails an attempt;
a dead letter that cannot be published is retried while the consumer stays alive; the inbox
forgets rows older than its retention.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.contracts.orders import OrderPlaced
from emporium.kit.bus import Bus, BusUnavailable, Delivery, Record, Subscription
from emporium.kit.consumer import EventConsumer, Handler
from emporium.kit.db import Database
from emporium.kit.events import Envelope, wrap
from emporium.kit.inbox import inbox_table
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import utcnow
from emporium.kit.testing import eventually

STOCK = StockChanged.type_name()
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))


def event(seq: int = 1) -> Envelope:
    data = StockChanged(product_id=uuid.uuid4(), on_hand=seq, reserved=0, available=seq)
    return wrap(data, source="test", key=uuid.uuid4())


async def publish(bus: Bus, topic: str, envelopes: Sequence[Envelope]) -> None:
    await bus.publish(
        [
            Record(topic=topic, value=e.to_bytes(), key=e.key.encode(), headers=tuple(e.headers()))
            for e in envelopes
        ]
    )


async def apply_effect(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(
        insert(EFFECT).values(event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"])
    )


async def effects(database: Database) -> int:
    async with database.session() as session:
        return len((await session.execute(select(EFFECT.c.n))).all())


def make_consumer(
    database: Database, bus: Bus, name: str, handler: Handler, **options: object
) -> EventConsumer:
    return EventConsumer(
        database,
        bus,
        group=name,
        topics=[name],
        handlers={STOCK: handler},
        service_name="tests",
        backoff_seconds=0.01,
        max_backoff=0.05,
        poll_timeout=0.2,
        **options,  # type: ignore[arg-type]
    )


async def consume(consumer: EventConsumer, count: int) -> list[str]:
    outcomes: list[str] = []

    async def probe() -> bool:
        outcomes.extend(await consumer.run_once(timeout=0.2))
        assert len(outcomes) >= count, f"{len(outcomes)} of {count}: {outcomes}"
        return True

    await eventually(probe, timeout=60)
    return outcomes


async def dead_letters(bus: Bus, group: str, count: int) -> list[Delivery]:
    subscription = bus.subscribe([f"{group}.dlq"], f"{group}-reader")
    await subscription.start()
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.2))
        assert len(received) >= count, f"{len(received)} of {count} dead letters"
        return True

    try:
        await eventually(probe, timeout=60)
    finally:
        await subscription.stop()
    return received


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- permanent -------------------------------------------------------------------------------


async def test_an_event_that_is_not_the_handlers_contract_is_dead_lettered_at_once(
    database: Database, bus: Bus, unique: str
) -> None:
    calls = 0

    async def expects_an_order(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        envelope.parse(OrderPlaced)  # a StockChanged: ContractMismatch

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, expects_an_order, max_attempts=5)
    try:
        assert await consume(consumer, 1) == ["dead_lettered"]
    finally:
        await consumer.close()

    assert calls == 1
    (letter,) = await dead_letters(bus, unique, 1)
    assert (letter.header("dlq-error") or "").startswith("ContractMismatch: ")
    assert letter.header("dlq-attempts") == "1"
    assert sample("emporium_handler_retries_total", group=unique, type=STOCK) == 0


async def test_a_payload_that_does_not_validate_is_dead_lettered_at_once(
    database: Database, bus: Bus, unique: str
) -> None:
    calls = 0

    async def strict(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        StockChanged.model_validate({**envelope.data, "on_hand": "many"})

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, strict, max_attempts=5)
    try:
        assert await consume(consumer, 1) == ["dead_lettered"]
    finally:
        await consumer.close()

    assert calls == 1
    (letter,) = await dead_letters(bus, unique, 1)
    assert (letter.header("dlq-error") or "").startswith("ValidationError: ")


# -- waited out --------------------------------------------------------------------------------


async def test_the_database_away_is_waited_out_without_using_attempts(
    database: Database, bus: Bus, unique: str
) -> None:
    away = [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    ]
    readiness_seen: list[str | None] = []
    consumer: EventConsumer

    async def flaky(session: AsyncSession, envelope: Envelope) -> None:
        readiness_seen.append(consumer.readiness())
        if away:
            raise away.pop(0)
        await apply_effect(session, envelope)

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, flaky, max_attempts=2)
    try:
        assert await consume(consumer, 1) == ["handled"]
        assert consumer.readiness() is None
    finally:
        await consumer.close()

    assert await effects(database) == 1
    assert readiness_seen[0] is None
    assert all(
        (seen or "").startswith("database unavailable since ") for seen in readiness_seen[1:]
    )
    assert len(readiness_seen) == 6
    assert sample("emporium_handler_retries_total", group=unique, type=STOCK) == 0
    assert (
        sample("emporium_handler_failures_total", group=unique, type=STOCK, failure="unavailable")
        == 5
    )


async def test_a_transaction_conflict_is_retried_without_using_attempts(
    database: Database, bus: Bus, unique: str
) -> None:
    conflicts = 4
    readiness_seen: list[str | None] = []
    consumer: EventConsumer

    async def contended(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal conflicts
        readiness_seen.append(consumer.readiness())
        if conflicts:
            conflicts -= 1
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        await apply_effect(session, envelope)

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, contended, max_attempts=2)
    try:
        assert await consume(consumer, 1) == ["handled"]
    finally:
        await consumer.close()

    assert await effects(database) == 1
    assert readiness_seen == [None] * 5  # a conflict is not an outage
    assert sample("emporium_handler_retries_total", group=unique, type=STOCK) == 0


# -- handler timeout -------------------------------------------------------------------------


async def test_a_handler_running_past_its_timeout_fails_its_attempts(
    database: Database, bus: Bus, unique: str
) -> None:
    calls = 0

    async def hangs(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, hangs, max_attempts=2, handler_timeout=0.2)
    try:
        assert await consume(consumer, 1) == ["dead_lettered"]
    finally:
        await consumer.close()

    assert calls == 2
    (letter,) = await dead_letters(bus, unique, 1)
    assert letter.header("dlq-error") == "HandlerTimeout: handler ran longer than 0.2 s"
    assert letter.header("dlq-attempts") == "2"


async def test_a_handler_that_times_out_once_applies_the_event_on_the_next_attempt(
    database: Database, bus: Bus, unique: str
) -> None:
    calls = 0

    async def slow_once(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        await apply_effect(session, envelope)  # rolled back when the attempt is cut off
        if calls == 1:
            await asyncio.Event().wait()

    await publish(bus, unique, [event()])
    consumer = make_consumer(database, bus, unique, slow_once, max_attempts=3, handler_timeout=0.2)
    try:
        assert await consume(consumer, 1) == ["handled"]
    finally:
        await consumer.close()

    assert calls == 2
    assert await effects(database) == 1
    assert sample("emporium_handler_retries_total", group=unique, type=STOCK) == 1
    assert sample("emporium_handler_failures_total", group=unique, type=STOCK, failure="retry") == 1


# -- dead letters while Kafka is away ------------------------------------------------------


class DeadLettersRefused(Bus):
    """The edge: the test's real bus, except that publishing to ``*.dlq`` fails while
    ``refusing`` (Kafka away for the dead-letter publisher only)."""

    def __init__(self, bus: Bus) -> None:
        self.inner = bus
        self.refusing = True

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        if self.refusing and any(record.topic.endswith(".dlq") for record in records):
            raise BusUnavailable("Kafka at 127.0.0.1:9 is unreachable")
        await self.inner.publish(records)

    def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        return self.inner.subscribe(topics, group)

    async def ensure_topics(
        self, topics: Sequence[str], partitions: int = 3, *, config: object = None
    ) -> None:
        await self.inner.ensure_topics(topics, partitions, config=config)  # type: ignore[arg-type]

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self.inner.topic_config(topic)

    async def ping(self) -> None:
        await self.inner.ping()


async def test_a_dead_letter_waits_for_kafka_while_the_consumer_stays_alive(
    database: Database, bus: Bus, unique: str
) -> None:
    async def failing(session: AsyncSession, envelope: Envelope) -> None:
        raise RuntimeError("always")

    stall = 1.0
    edge = DeadLettersRefused(bus)
    await publish(bus, unique, [event()])
    consumer = make_consumer(database, edge, unique, failing, max_attempts=1, stall_seconds=stall)
    await consumer.start()
    try:

        async def waiting_for_kafka() -> bool:
            assert (consumer.readiness() or "").startswith("bus unavailable since ")
            return True

        await eventually(waiting_for_kafka, timeout=60)
        since = time.monotonic()
        while time.monotonic() - since < 3 * stall:
            assert consumer.health() is None
            await asyncio.sleep(0.1)
        assert sample("emporium_consumer_waiting", group=unique, dependency="bus") == 1

        edge.refusing = False
        (letter,) = await dead_letters(bus, unique, 1)

        async def ready() -> bool:
            assert consumer.readiness() is None
            return True

        await eventually(ready, timeout=30)
    finally:
        await consumer.stop()
    assert letter.header("dlq-error") == "RuntimeError: always"
    assert sample("emporium_consumer_waiting", group=unique, dependency="bus") == 0


# -- inbox retention -------------------------------------------------------------------------


async def add_inbox_row(database: Database, group: str, *, age: timedelta) -> uuid.UUID:
    event_id = uuid.uuid4()
    async with database.session() as session:
        await session.execute(
            insert(inbox_table).values(
                consumer_group=group, event_id=event_id, event_type=STOCK, handled_at=utcnow() - age
            )
        )
    return event_id


async def inbox_ids(database: Database) -> set[uuid.UUID]:
    async with database.session() as session:
        return set((await session.scalars(select(inbox_table.c.event_id))).all())


async def test_the_consumer_purges_its_inbox_rows_older_than_the_retention(
    database: Database, bus: Bus, unique: str
) -> None:
    old = await add_inbox_row(database, unique, age=timedelta(days=8))
    recent = await add_inbox_row(database, unique, age=timedelta(days=6))
    other_groups = await add_inbox_row(database, f"{unique}-other", age=timedelta(days=30))
    consumer = make_consumer(
        database, bus, unique, apply_effect, inbox_retention=timedelta(days=7), purge_every=3600
    )
    try:
        await consumer.run_once(timeout=0.1)
        assert await inbox_ids(database) >= {recent, other_groups}
        assert old not in await inbox_ids(database)
        assert sample("emporium_inbox_purged_total", group=unique) == 1

        later = await add_inbox_row(database, unique, age=timedelta(days=9))
        await consumer.run_once(timeout=0.1)
        assert later in await inbox_ids(database), "purged again before purge_every"
        assert await consumer.purge_inbox() == 1
        assert later not in await inbox_ids(database)
    finally:
        await consumer.close()


async def test_without_a_retention_the_inbox_is_kept(
    database: Database, bus: Bus, unique: str
) -> None:
    old = await add_inbox_row(database, unique, age=timedelta(days=365))
    consumer = make_consumer(database, bus, unique, apply_effect, inbox_retention=None)
    try:
        await consumer.run_once(timeout=0.1)
    finally:
        await consumer.close()
    assert old in await inbox_ids(database)


# -- a long batch --------------------------------------------------------------------------


async def test_a_batch_that_takes_longer_than_the_stall_keeps_the_consumer_alive(
    database: Database, bus: Bus, unique: str
) -> None:
    stall, count = 0.6, 8
    health_seen: list[str | None] = []
    consumer: EventConsumer

    async def slow(session: AsyncSession, envelope: Envelope) -> None:
        health_seen.append(consumer.health())
        await asyncio.sleep(0.2)  # slow work: the whole batch takes ~3 stall periods
        await apply_effect(session, envelope)

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, [event(n) for n in range(count)])
    consumer = make_consumer(database, bus, unique, slow, stall_seconds=stall, batch_size=count)
    assert consumer.keep_alive == stall / 2
    await consumer.start()
    try:

        async def all_applied() -> bool:
            assert await effects(database) == count
            return True

        await eventually(all_applied, timeout=60)
    finally:
        await consumer.stop()
    assert health_seen == [None] * count


async def test_a_large_purge_goes_in_batches(database: Database, bus: Bus, unique: str) -> None:
    old = {await add_inbox_row(database, unique, age=timedelta(days=10)) for _ in range(7)}
    kept = await add_inbox_row(database, unique, age=timedelta(hours=1))
    consumer = make_consumer(database, bus, unique, apply_effect, inbox_retention=timedelta(days=7))
    try:
        assert await consumer.purge_inbox(batch=3) == 7
    finally:
        await consumer.close()
    remaining = await inbox_ids(database)
    assert kept in remaining
    assert not old & remaining
    assert sample("emporium_inbox_purged_total", group=unique) == 7


async def test_stopping_while_waiting_for_the_database_leaves_the_event_for_the_next_member(
    database: Database, bus: Bus, unique: str
) -> None:
    async def database_away(session: AsyncSession, envelope: Envelope) -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    envelope = event()
    await publish(bus, unique, [envelope])
    first = make_consumer(database, bus, unique, database_away)
    await first.start()
    try:

        async def waiting() -> bool:
            assert (first.readiness() or "").startswith("database unavailable since ")
            return True

        await eventually(waiting, timeout=60)
    finally:
        await first.stop()
    assert first.readiness() is None
    assert sample("emporium_consumer_waiting", group=unique, dependency="database") == 0

    second = make_consumer(database, bus, unique, apply_effect)
    try:
        assert await consume(second, 1) == ["handled"]
    finally:
        await second.close()
    assert await effects(database) == 1
    assert sample("emporium_dead_lettered_total", group=unique) == 0
