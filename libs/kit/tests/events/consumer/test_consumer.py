"""The event consumer, on the embedded stack and on PostgreSQL + Kafka.

Each event is applied once in effect however often it is delivered, in order per key; an
event whose handler keeps failing goes to the dead-letter topic after bounded retries and
the consumer goes on; the handler's span continues the trace of the write.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus, Delivery, Record
from emporium.kit.consumer import EventConsumer, Handler
from emporium.kit.db import Database
from emporium.kit.events import Envelope, wrap
from emporium.kit.inbox import seen
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox
from emporium.kit.relay import OutboxRelay
from emporium.kit.testing import eventually
from emporium.kit.tracing import current_trace_id, tracer
from emporium.kit.workers import Worker

STOCK = StockChanged.type_name()
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))

# -- helpers -------------------------------------------------------------------------------


def event(key: uuid.UUID, seq: int) -> Envelope:
    """An envelope whose ``on_hand`` carries a sequence number."""
    data = StockChanged(product_id=key, on_hand=seq, reserved=0, available=seq)
    return wrap(data, source="test", key=key)


def record(topic: str, envelope: Envelope) -> Record:
    return Record(
        topic=topic,
        value=envelope.to_bytes(),
        key=envelope.key.encode(),
        headers=tuple(envelope.headers()),
    )


async def publish(bus: Bus, topic: str, envelopes: Sequence[Envelope]) -> None:
    await bus.publish([record(topic, envelope) for envelope in envelopes])


async def apply_effect(session: AsyncSession, envelope: Envelope) -> None:
    """The handler of the tests' service: one effect row per applied event."""
    await session.execute(
        insert(EFFECT).values(event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"])
    )


async def effects(database: Database) -> list[tuple[uuid.UUID, str, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(EFFECT.c.event_id, EFFECT.c.key, EFFECT.c.seq).order_by(EFFECT.c.n)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def consume(consumer: EventConsumer, count: int, *, timeout: float = 60) -> list[str]:
    """Drive ``consumer`` until it has dealt with ``count`` deliveries; their outcomes."""
    outcomes: list[str] = []

    async def probe() -> bool:
        outcomes.extend(await consumer.run_once(timeout=0.2))
        assert len(outcomes) >= count, f"{len(outcomes)} of {count} deliveries: {outcomes}"
        return True

    await eventually(probe, timeout=timeout)
    return outcomes


async def receive(bus: Bus, topic: str, count: int, *, group: str) -> list[Delivery]:
    """Read ``count`` records of ``topic`` with a fresh consumer group."""
    subscription = bus.subscribe([topic], group)
    await subscription.start()
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.2))
        assert len(received) >= count, f"received {len(received)} of {count}"
        return True

    try:
        await eventually(probe, timeout=60)
    finally:
        await subscription.stop()
    return received


def make_consumer(
    database: Database,
    bus: Bus,
    group: str,
    topic: str,
    handler: Handler = apply_effect,
    **options: float,
) -> EventConsumer:
    return EventConsumer(
        database,
        bus,
        group=group,
        topics=[topic],
        handlers={STOCK: handler},
        service_name="tests",
        backoff_seconds=options.pop("backoff_seconds", 0.01),
        **options,  # type: ignore[arg-type]
    )


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- applying events -----------------------------------------------------------------------


async def test_each_event_is_applied_once_even_when_delivered_twice(
    database: Database, bus: Bus, unique: str
) -> None:
    first, second = event(uuid.uuid4(), 1), event(uuid.uuid4(), 2)
    await publish(bus, unique, [first, second, first, second, first])
    consumer = make_consumer(database, bus, unique, unique)
    try:
        outcomes = await consume(consumer, 5)
    finally:
        await consumer.close()

    assert Counter(outcomes) == {"handled": 2, "duplicate": 3}
    assert sorted(seq for _, _, seq in await effects(database)) == [1, 2]
    async with database.session() as session:
        assert await seen(session, unique, first.id)
        assert not await seen(session, f"{unique}-other-group", first.id)


async def test_every_group_applies_an_event_once(database: Database, bus: Bus, unique: str) -> None:
    await publish(bus, unique, [event(uuid.uuid4(), 1)])
    one = make_consumer(database, bus, f"{unique}-a", unique)
    two = make_consumer(database, bus, f"{unique}-b", unique)
    try:
        assert await consume(one, 1) == ["handled"]
        assert await consume(two, 1) == ["handled"]
    finally:
        await one.close()
        await two.close()

    assert len(await effects(database)) == 2


async def test_events_of_one_key_are_applied_in_order(
    database: Database, bus: Bus, unique: str
) -> None:
    keys = [uuid.uuid4() for _ in range(4)]
    await publish(bus, unique, [event(key, seq) for seq in range(15) for key in keys])
    consumer = make_consumer(database, bus, unique, unique, batch_size=7)
    try:
        await consume(consumer, 60)
    finally:
        await consumer.close()

    per_key: dict[str, list[int]] = defaultdict(list)
    for _, key, seq in await effects(database):
        per_key[key].append(seq)
    assert per_key == {str(key): list(range(15)) for key in keys}


async def test_an_event_type_without_a_handler_is_acknowledged_and_skipped(
    database: Database, bus: Bus, unique: str
) -> None:
    other = Envelope(type="elsewhere.SomethingNew.v1", source="x", key="k", data={"a": 1})
    await publish(bus, unique, [other, event(uuid.uuid4(), 1)])
    consumer = make_consumer(database, bus, unique, unique)
    try:
        outcomes = await consume(consumer, 2)
    finally:
        await consumer.close()

    assert sorted(outcomes) == ["handled", "ignored"]
    again = make_consumer(database, bus, unique, unique)
    try:
        assert await again.run_once(timeout=1) == []  # both were committed
    finally:
        await again.close()


async def test_a_handler_that_fails_then_succeeds_applies_the_event_once(
    database: Database, bus: Bus, unique: str
) -> None:
    calls = 0

    async def flaky(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        await apply_effect(session, envelope)  # rolled back with the failure
        if calls < 3:
            raise RuntimeError(f"flaky #{calls}")

    await publish(bus, unique, [event(uuid.uuid4(), 1)])
    consumer = make_consumer(database, bus, unique, unique, flaky, max_attempts=3)
    retries = counter("emporium_handler_retries_total", group=unique, type=STOCK)
    try:
        assert await consume(consumer, 1) == ["handled"]
    finally:
        await consumer.close()

    assert calls == 3
    assert [seq for _, _, seq in await effects(database)] == [1]
    assert counter("emporium_handler_retries_total", group=unique, type=STOCK) == retries + 2


# -- dead letters --------------------------------------------------------------------------


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_and_the_next_one_applied(
    database: Database, bus: Bus, unique: str
) -> None:
    poison_key = uuid.uuid4()
    poison, healthy = event(poison_key, 666), event(poison_key, 2)

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        if envelope.data["on_hand"] == 666:
            raise ValueError("cannot apply stock level 666")
        await apply_effect(session, envelope)

    await publish(bus, unique, [poison, healthy])
    consumer = make_consumer(database, bus, unique, unique, handler, max_attempts=3)
    retries = counter("emporium_handler_retries_total", group=unique, type=STOCK)
    try:
        assert await consume(consumer, 2) == ["dead_lettered", "handled"]
    finally:
        await consumer.close()

    assert [seq for _, _, seq in await effects(database)] == [2]
    assert counter("emporium_handler_retries_total", group=unique, type=STOCK) == retries + 2
    assert counter("emporium_dead_lettered_total", group=unique) == 1
    (letter,) = await receive(bus, f"{unique}.dlq", 1, group=f"{unique}-reader")
    original = record(unique, poison)
    assert letter.value == original.value
    assert letter.key == original.key
    assert letter.headers[: len(original.headers)] == original.headers
    assert letter.header("dlq-error") == "ValueError: cannot apply stock level 666"
    assert letter.header("dlq-original-topic") == unique
    assert letter.header("dlq-original-partition") is not None
    assert letter.header("dlq-original-offset") is not None
    assert letter.header("dlq-group") == unique
    assert letter.header("dlq-attempts") == "3"
    assert (letter.header("dlq-failed-at") or "").startswith("20")
    async with database.session() as session:
        assert not await seen(session, unique, poison.id)


async def test_the_dead_letter_names_the_partition_and_offset_it_came_from(
    database: Database, bus: Bus, unique: str
) -> None:
    async def failing(session: AsyncSession, envelope: Envelope) -> None:
        raise RuntimeError("always")

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(3)])
    consumer = make_consumer(database, bus, unique, unique, failing, max_attempts=1)
    try:
        assert await consume(consumer, 3) == ["dead_lettered"] * 3
    finally:
        await consumer.close()

    letters = await receive(bus, f"{unique}.dlq", 3, group=f"{unique}-reader")
    assert [
        (d.header("dlq-original-partition"), d.header("dlq-original-offset")) for d in letters
    ] == [
        ("0", "0"),
        ("0", "1"),
        ("0", "2"),
    ]


async def test_an_undecodable_record_is_dead_lettered_at_once(
    database: Database, bus: Bus, unique: str
) -> None:
    await bus.publish([Record(topic=unique, value=b"\x00not json", key=b"k")])
    await publish(bus, unique, [event(uuid.uuid4(), 1)])
    calls = 0

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        await apply_effect(session, envelope)

    consumer = make_consumer(database, bus, unique, unique, handler)
    try:
        assert sorted(await consume(consumer, 2)) == ["dead_lettered", "handled"]
    finally:
        await consumer.close()

    assert calls == 1
    (letter,) = await receive(bus, f"{unique}.dlq", 1, group=f"{unique}-reader")
    assert letter.value == b"\x00not json"
    assert (letter.header("dlq-error") or "").startswith("undecodable: ")


# -- offsets, lag, health ------------------------------------------------------------------


async def test_a_restarted_member_does_not_get_what_was_handled_again(
    database: Database, bus: Bus, unique: str
) -> None:
    await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(4)])
    consumer = make_consumer(database, bus, unique, unique)
    try:
        await consume(consumer, 4)
    finally:
        await consumer.close()
    await publish(bus, unique, [event(uuid.uuid4(), 4)])

    restarted = make_consumer(database, bus, unique, unique)
    try:
        assert await consume(restarted, 1) == ["handled"]
        assert await restarted.run_once(timeout=0.5) == []
    finally:
        await restarted.close()
    assert sorted(seq for _, _, seq in await effects(database)) == [0, 1, 2, 3, 4]


async def test_the_lag_gauge_counts_what_is_left_to_consume(
    database: Database, bus: Bus, unique: str
) -> None:
    key = uuid.uuid4()
    await publish(bus, unique, [event(key, n) for n in range(5)])
    consumer = make_consumer(database, bus, unique, unique, batch_size=2, lag_every=0)
    try:
        handled = await consume(consumer, 1)
        assert counter("emporium_consumer_lag", group=unique, topic=unique) == 5 - len(handled)
        await consume(consumer, 5 - len(handled))
        assert counter("emporium_consumer_lag", group=unique, topic=unique) == 0
    finally:
        await consumer.close()


async def test_the_running_consumer_applies_events_and_reports_its_health(
    database: Database, bus: Bus, unique: str
) -> None:
    consumer = make_consumer(database, bus, unique, unique, poll_timeout=0.2)
    assert isinstance(consumer, Worker)
    assert consumer.health() == "not started"
    await consumer.start()
    try:
        await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(3)])

        async def applied() -> bool:
            return len(await effects(database)) == 3

        await eventually(applied, timeout=60)
        assert consumer.health() is None
        assert consumer.healthy(stall_seconds=60)
        assert not consumer.healthy(stall_seconds=0)
        assert (consumer.health(stall_seconds=0) or "").startswith("has not polled for")
    finally:
        await consumer.stop()
    assert not consumer.healthy()


# -- tracing ---------------------------------------------------------------------------------


async def test_the_handler_span_continues_the_trace_of_the_write(
    database: Database, bus: Bus, unique: str, spans: InMemorySpanExporter
) -> None:
    outbox = Outbox("tests")
    seen_in_handler: list[str | None] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        seen_in_handler.append(current_trace_id())
        await apply_effect(session, envelope)

    with tracer("test").start_as_current_span("POST /stock") as request_span:
        async with database.session() as session:
            await outbox.add(
                session,
                StockChanged(product_id=uuid.uuid4(), on_hand=1, reserved=0, available=1),
                key=uuid.uuid4(),
                topic=unique,
            )
    written = request_span.get_span_context()
    assert await OutboxRelay(database, bus, service_name="tests").run_once() == 1
    consumer = make_consumer(database, bus, unique, unique, handler)
    try:
        assert await consume(consumer, 1) == ["handled"]
    finally:
        await consumer.close()

    assert seen_in_handler == [format(written.trace_id, "032x")]
    (process,) = [s for s in spans.get_finished_spans() if s.name == f"{unique} process"]
    assert process.context is not None
    assert process.parent is not None
    assert process.context.trace_id == written.trace_id
    assert process.parent.span_id == written.span_id
    assert process.kind == trace.SpanKind.CONSUMER
    assert process.attributes is not None
    assert process.attributes["emporium.consumer.outcome"] == "handled"
