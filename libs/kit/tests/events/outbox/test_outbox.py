"""The outbox and its relay, on the embedded stack and on PostgreSQL + Kafka.

An event exists exactly when the state change that produced it is committed, reaches the
bus after the commit (in write order per key), and survives a bus that refuses it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Uuid, column, func, insert, select, table, text

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus, Delivery
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox, OutboxMessage, database_clock, utcnow
from emporium.kit.relay import OutboxRelay, backoff_delay
from emporium.kit.testing import eventually
from emporium.kit.tracing import tracer
from emporium.kit.workers import Worker

# -- helpers -------------------------------------------------------------------------------

NOTE = table("note", column("id", Uuid), column("text"))


def stock(product: uuid.UUID, seq: int) -> StockChanged:
    """An event whose ``on_hand`` carries a sequence number."""
    return StockChanged(product_id=product, on_hand=seq, reserved=0, available=seq)


async def write(
    database: Database,
    outbox: Outbox,
    topic: str,
    events: Sequence[tuple[uuid.UUID, int]],
) -> list[Envelope]:
    """One unit of work: a note row plus one outbox event per (key, seq)."""
    async with database.session() as session:
        await session.execute(insert(NOTE).values(id=uuid.uuid4(), text="written with events"))
        return [
            await outbox.add(session, stock(key, seq), key=key, topic=topic) for key, seq in events
        ]


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


async def count_rows(database: Database, table: str) -> int:
    async with database.session() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def unsent(database: Database) -> list[OutboxMessage]:
    async with database.session() as session:
        statement = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        return list((await session.scalars(statement)).all())


def sample(name: str, service: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


# -- the outbox ----------------------------------------------------------------------------


async def test_a_committed_event_is_published_as_its_envelope(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    product = uuid.uuid4()
    (envelope,) = await write(database, outbox, unique, [(product, 1)])
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.run_once() == 1

    (delivery,) = await receive(bus, unique, 1, group=f"{unique}-reader")
    assert delivery.key == str(product).encode()
    assert Envelope.from_bytes(delivery.value) == envelope
    assert delivery.header("type") == "catalog.StockChanged.v1"
    assert delivery.header("id") == str(envelope.id)
    assert envelope.source == unique
    assert envelope.parse(StockChanged) == stock(product, 1)


async def test_a_rolled_back_unit_of_work_leaves_no_event(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)

    async def failing_request() -> None:
        async with database.session() as session:
            await outbox.add(session, stock(uuid.uuid4(), 1), key=uuid.uuid4(), topic=unique)
            raise RuntimeError("request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        await failing_request()

    relay = OutboxRelay(database, bus, service_name=unique)
    assert await relay.run_once() == 0
    assert await count_rows(database, "outbox_message") == 0


async def test_events_of_one_key_reach_the_bus_in_the_order_they_were_written(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    keys = [uuid.uuid4() for _ in range(3)]
    for seq in range(10):
        await write(database, outbox, unique, [(key, seq) for key in keys])
    relay = OutboxRelay(database, bus, service_name=unique, batch_size=7)

    assert await relay.drain() == 30

    received = await receive(bus, unique, 30, group=f"{unique}-reader")
    per_key: dict[str, list[int]] = defaultdict(list)
    for delivery in received:
        envelope = Envelope.from_bytes(delivery.value)
        per_key[envelope.key].append(envelope.parse(StockChanged).on_hand)
    assert per_key == {str(key): list(range(10)) for key in keys}


async def test_a_published_event_is_not_published_again(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    await write(database, outbox, unique, [(uuid.uuid4(), 1), (uuid.uuid4(), 2)])
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.run_once() == 2
    assert await relay.run_once() == 0

    assert await unsent(database) == []
    assert await count_rows(database, "outbox_message") == 2  # kept for the retention


async def test_when_the_bus_refuses_the_events_they_stay_and_go_out_once_it_is_back(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    product = uuid.uuid4()
    await write(database, outbox, unique, [(product, 1), (product, 2)])
    relay = OutboxRelay(database, bus, service_name=unique, base_backoff=0.2, max_backoff=1)
    failures_before = sample("emporium_outbox_publish_failures_total", unique)
    await bus.stop()

    assert await relay.run_once() == 0

    rows = await unsent(database)
    assert len(rows) == 2
    assert all(row.attempts == 1 for row in rows)
    assert all("BusUnavailable" in (row.last_error or "") for row in rows)
    assert all(row.next_attempt_at > utcnow() - timedelta(seconds=1) for row in rows)
    assert relay.last_error is not None
    assert sample("emporium_outbox_publish_failures_total", unique) == failures_before + 1

    await bus.start()

    async def published() -> bool:
        return await relay.run_once() == 2

    await eventually(published, timeout=30)
    received = await receive(bus, unique, 2, group=f"{unique}-reader")
    assert [Envelope.from_bytes(d.value).parse(StockChanged).on_hand for d in received] == [1, 2]
    assert relay.last_error is None


async def test_an_event_waiting_for_its_retry_is_not_overtaken_by_later_ones(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    product = uuid.uuid4()
    await write(database, outbox, unique, [(product, 1)])
    relay = OutboxRelay(database, bus, service_name=unique, base_backoff=3, max_backoff=3)
    await bus.stop()
    assert await relay.run_once() == 0
    await bus.start()
    await write(database, outbox, unique, [(product, 2)])

    assert await relay.run_once() == 0, "event 2 went out before event 1"

    async def published() -> bool:
        return await relay.run_once() == 2

    await eventually(published, timeout=30)
    received = await receive(bus, unique, 2, group=f"{unique}-reader")
    assert [Envelope.from_bytes(d.value).parse(StockChanged).on_hand for d in received] == [1, 2]


def test_the_retry_delay_doubles_up_to_its_cap() -> None:
    delays = [backoff_delay(n, base=0.5, cap=5) for n in range(6)]
    assert delays == [0, 0.5, 1, 2, 4, 5]


async def test_the_backlog_gauges_show_what_waits_and_for_how_long(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    await write(database, outbox, unique, [(uuid.uuid4(), n) for n in range(3)])
    relay = OutboxRelay(database, bus, service_name=unique)

    backlog, age = await relay.refresh_metrics()

    assert backlog == 3
    assert age >= 0
    assert sample("emporium_outbox_backlog", unique) == 3

    await relay.drain()
    assert await relay.refresh_metrics() == (0, 0.0)
    assert sample("emporium_outbox_backlog", unique) == 0
    assert sample("emporium_outbox_oldest_age_seconds", unique) == 0
    assert sample("emporium_outbox_published_total", unique) == 3


async def test_sent_events_are_purged_after_the_retention_and_unsent_ones_never(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    await write(database, outbox, unique, [(uuid.uuid4(), 1), (uuid.uuid4(), 2)])
    relay = OutboxRelay(database, bus, service_name=unique, retention=timedelta(0))
    await relay.drain()
    await write(database, outbox, unique, [(uuid.uuid4(), 3)])

    assert await relay.purge() == 2

    assert [row.type for row in await unsent(database)] == ["catalog.StockChanged.v1"]
    assert await count_rows(database, "outbox_message") == 1


async def test_the_running_relay_publishes_right_after_the_commit(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    # Polling alone would take 60 s: only a wake-up (NOTIFY on PostgreSQL, the in-process
    # commit hook on SQLite) can make the event arrive within the test's deadline.
    relay = OutboxRelay(
        database,
        bus,
        service_name=unique,
        poll_seconds=60,
        outbox=None if database.is_postgres else outbox,
    )
    await relay.start()
    try:
        assert isinstance(relay, Worker)
        assert relay.health() is None
        # Idle: its first cycle done and, on PostgreSQL, the wake-up after LISTEN consumed.
        idle_after = 2 if database.is_postgres else 1
        await eventually(
            lambda: _true(relay.cycles >= idle_after and relay.listening == database.is_postgres),
            timeout=30,
        )
        await write(database, outbox, unique, [(uuid.uuid4(), 7)])

        received = await receive(bus, unique, 1, group=f"{unique}-reader")

        assert Envelope.from_bytes(received[0].value).parse(StockChanged).on_hand == 7
    finally:
        await relay.stop()
    assert relay.health() is not None


@pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True)  # LISTEN is PostgreSQL's
@pytest.mark.integration
async def test_the_relay_listens_again_after_its_connection_is_cut(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    relay = OutboxRelay(database, bus, service_name=unique, poll_seconds=60, base_backoff=0.1)
    await relay.start()
    try:
        await eventually(lambda: _true(relay.listening and relay.cycles >= 2), timeout=30)
        cycles = relay.cycles
        async with database.session() as session:
            cut = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": relay.listen_application_name},
            )
        assert cut == 1

        # Reconnected: it wakes the loop once (in case it missed a NOTIFY), then idles.
        await eventually(lambda: _true(relay.listening and relay.cycles > cycles), timeout=30)
        await write(database, outbox, unique, [(uuid.uuid4(), 9)])

        received = await receive(bus, unique, 1, group=f"{unique}-reader")
        assert Envelope.from_bytes(received[0].value).parse(StockChanged).on_hand == 9
    finally:
        await relay.stop()


async def test_the_running_relay_catches_up_when_the_bus_comes_back(
    database: Database, bus: Bus, unique: str
) -> None:
    outbox = Outbox(unique)
    relay = OutboxRelay(
        database, bus, service_name=unique, poll_seconds=0.2, base_backoff=0.1, max_backoff=0.5
    )
    await bus.stop()
    await relay.start()
    try:
        await write(database, outbox, unique, [(uuid.uuid4(), n) for n in range(5)])
        await eventually(lambda: _true(relay.last_error is not None), timeout=30)
        assert len(await unsent(database)) == 5

        await bus.start()

        received = await receive(bus, unique, 5, group=f"{unique}-reader")
        assert sorted(Envelope.from_bytes(d.value).data["on_hand"] for d in received) == list(
            range(5)
        )
        await eventually(lambda: _no_backlog(database), timeout=30)
        assert relay.health() is None
    finally:
        await relay.stop()


async def test_the_publish_span_continues_the_trace_of_the_write(
    database: Database, bus: Bus, unique: str, spans: InMemorySpanExporter
) -> None:
    outbox = Outbox(unique)
    with tracer("test").start_as_current_span("POST /products") as request_span:
        (envelope,) = await write(database, outbox, unique, [(uuid.uuid4(), 1)])
    relay = OutboxRelay(database, bus, service_name=unique)

    await relay.run_once()

    assert envelope.trace["traceparent"].split("-")[1] == format(
        request_span.get_span_context().trace_id, "032x"
    )
    (publish,) = [s for s in spans.get_finished_spans() if s.name == f"{unique} publish"]
    assert publish.context is not None
    assert publish.parent is not None
    assert publish.context.trace_id == request_span.get_span_context().trace_id
    assert publish.parent.span_id == request_span.get_span_context().span_id


async def test_the_record_carries_the_envelopes_headers(
    database: Database, bus: Bus, unique: str
) -> None:
    """Routers and the dead-letter tools read ``type``, ``id`` and the trace context from the
    headers: they are the envelope's own."""
    outbox = Outbox(unique)
    with tracer("test").start_as_current_span("POST /products"):
        await write(database, outbox, unique, [(uuid.uuid4(), 1), (uuid.uuid4(), 2)])
    await write(database, outbox, unique, [(uuid.uuid4(), 3)])  # no trace
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.run_once() == 3

    received = await receive(bus, unique, 3, group=f"{unique}-reader")
    for delivery in received:
        envelope = Envelope.from_bytes(delivery.value)
        assert delivery.headers == tuple(envelope.headers())
        assert delivery.key == envelope.key.encode()
    assert sum(1 for d in received if d.header("traceparent") is not None) == 2


async def test_rows_keep_the_envelope_and_aware_timestamps(database: Database, unique: str) -> None:
    outbox = Outbox(unique)
    key = uuid.uuid4()
    (envelope,) = await write(database, outbox, f"{unique}-topic", [(key, 1)])

    (row,) = await unsent(database)

    assert row.id == envelope.id
    assert (row.topic, row.key, row.type) == (f"{unique}-topic", str(key), envelope.type)
    assert Envelope.from_bytes(row.envelope) == envelope
    assert row.created_at.tzinfo is not None
    assert (row.status, row.seq) == ("pending", 1)
    assert (row.attempts, row.last_error, row.sent_at) == (0, None, None)
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        # Due at once, on the database's clock (not the writer's).
        assert row.next_attempt_at <= await session.scalar(select(database_clock()))


# -- small probes ----------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def _no_backlog(database: Database) -> bool:
    return not await unsent(database)


@pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True)  # NOTIFY is PostgreSQL's
@pytest.mark.integration
async def test_a_commit_wakes_the_relay_once_however_many_events_it_staged(
    database: Database, unique: str
) -> None:
    """One NOTIFY (one round trip) per transaction, not per event; a savepoint rolled back
    takes its NOTIFY with it, so the next savepoint notifies again."""
    import asyncio

    import asyncpg
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import AsyncSession

    from emporium.kit.listen import asyncpg_dsn
    from emporium.kit.outbox import channel_for

    outbox = Outbox(unique)
    notifies: list[str] = []

    def counted(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_notify" in statement:
            notifies.append(statement)

    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(asyncpg_dsn(database.url))
    event.listen(database.engine.sync_engine, "before_cursor_execute", counted)
    try:
        await listener.add_listener(channel_for(unique), lambda *args: heard.put_nowait("wake"))

        async def wake_ups() -> tuple[int, int]:
            await asyncio.sleep(0.5)  # a NOTIFY is delivered right after its commit
            count = heard.qsize()
            while not heard.empty():
                heard.get_nowait()
            sent = len(notifies)
            notifies.clear()
            return sent, count

        await write(database, outbox, unique, [(uuid.uuid4(), n) for n in range(5)])
        assert await wake_ups() == (1, 1)
        await write(database, outbox, unique, [(uuid.uuid4(), 6)])
        assert await wake_ups() == (1, 1)  # the next transaction notifies again

        async def failing_handler(session: AsyncSession) -> None:
            async with session.begin_nested():
                await outbox.add(session, stock(uuid.uuid4(), 7), key="k", topic=unique)
                raise RuntimeError("this event's handler failed")

        async with database.session() as session:
            with pytest.raises(RuntimeError):
                await failing_handler(session)
            async with session.begin_nested():
                await outbox.add(session, stock(uuid.uuid4(), 8), key="k", topic=unique)
        assert await wake_ups() == (2, 1)  # the rolled-back savepoint's was discarded
        assert await count_rows(database, "outbox_message") == 7
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", counted)
        await listener.close()
