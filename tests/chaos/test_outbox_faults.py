"""Outbox faults on the real PostgreSQL + Kafka: an unpublishable row, and skewed clocks.

Self-contained: a fresh database and unique topics on the shared infrastructure, which is
never stopped. Each test checks its invariant from the outbox table and the topic.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, select, update

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus, Delivery
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox, OutboxMessage, create_kit_tables, utcnow
from emporium.kit.relay import DEFAULT_MAX_RECORD_BYTES, OutboxRelay
from emporium.kit.testing import eventually

pytestmark = pytest.mark.integration

#: An aggregate with a version: writers lock its row, as every service does before its event.
METADATA = MetaData()
AGGREGATE = Table(
    "aggregate",
    METADATA,
    Column("id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
)

BIG = 1_100_000  # bytes: over Kafka's default 1 MiB request size


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    made = Database(postgres_url)
    async with made.engine.begin() as connection:
        await connection.run_sync(create_kit_tables)
        await connection.run_sync(METADATA.create_all)
    yield made
    await made.dispose()


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[Bus]:
    made = KafkaBus(kafka_bootstrap, request_timeout=10)
    await made.start()
    yield made
    await made.stop()


def stock(key: uuid.UUID, n: int) -> StockChanged:
    return StockChanged(product_id=key, on_hand=n, reserved=0, available=n)


async def write(database: Database, outbox: Outbox, topic: str, key: uuid.UUID, n: int) -> None:
    async with database.session() as session:
        await outbox.add(session, stock(key, n), key=key, topic=topic)


async def write_big(database: Database, outbox: Outbox, topic: str, key: uuid.UUID) -> None:
    """A real envelope grown to ~1.1 MB by an extra data field (consumers would ignore it)."""
    async with database.session() as session:
        envelope = await outbox.add(session, stock(key, 1), key=key, topic=topic)
        grown = envelope.to_bytes().replace(b'"data":{', b'"data":{"blob":"' + b"x" * BIG + b'",')
        assert Envelope.from_bytes(grown).id == envelope.id
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == envelope.id).values(envelope=grown)
        )


async def read_topic(bus: Bus, topic: str, *, group: str, until: int) -> list[Delivery]:
    subscription = bus.subscribe([topic], group)
    await subscription.start()
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.5))
        assert len(received) >= until, f"received {len(received)} of {until}"
        return True

    try:
        await eventually(probe, timeout=90)
        received.extend(await subscription.poll(timeout=1.0))  # and nothing more
    finally:
        await subscription.stop()
    return received


async def emporium_outbox(*args: str, url: str) -> tuple[int, str, str]:
    """Run the ``emporium-outbox`` console script as its own process."""
    script = Path(sys.executable).with_name("emporium-outbox")
    process = await asyncio.create_subprocess_exec(
        str(script),
        *args,
        "--database-url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def parked_gauge(service: str) -> float:
    return REGISTRY.get_sample_value("emporium_outbox_parked", {"service": service}) or 0.0


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(None, id="parked-by-the-relay-limit"),
        pytest.param(8 * 1024 * 1024, id="refused-by-the-kafka-producer"),
    ],
)
async def test_a_too_large_event_is_parked_and_every_other_key_is_published(
    database: Database, bus: Bus, unique: str, postgres_url: str, limit: int | None
) -> None:
    """Invariant: a 1.1 MB event among normal ones does not stop the outbox. The normal
    events (their own keys, and those written before it on its key) reach the topic in
    order; the big one is parked (status, error text, ``emporium_outbox_parked`` = 1,
    ``emporium-outbox list``), and the later event of its key waits behind it.

    ``limit=None`` is the relay's own check (``outbox_max_record_bytes``, 1 MiB); with a
    higher limit the record reaches the Kafka producer, whose MessageSizeTooLargeError is
    recognised as permanent (the batch is then published row by row).
    """
    outbox = Outbox(unique)
    keys = [uuid.uuid4() for _ in range(3)]
    big_key = keys[0]
    for n in (1, 2):
        for key in keys:
            await write(database, outbox, unique, key, n)
    await write_big(database, outbox, unique, big_key)  # big_key's event "1" again, big
    for key in keys:
        await write(database, outbox, unique, key, 3)
    relay = OutboxRelay(
        database,
        bus,
        service_name=unique,
        max_record_bytes=limit or DEFAULT_MAX_RECORD_BYTES,
    )

    assert await relay.drain() == 8
    assert await relay.run_once() == 0, "a later cycle let an event overtake the parked one"
    await relay.refresh_metrics()

    received = await read_topic(bus, unique, group=f"{unique}-reader", until=8)
    # At least once: a batch that failed half-way is published again row by row, so the
    # rows before the fault may arrive twice; consumers keep the first (their inbox).
    per_key: dict[str, list[int]] = {}
    seen: set[uuid.UUID] = set()
    for delivery in received:
        envelope = Envelope.from_bytes(delivery.value)
        if envelope.id not in seen:
            seen.add(envelope.id)
            per_key.setdefault(envelope.key, []).append(int(envelope.data["on_hand"]))
    assert per_key == {str(big_key): [1, 2], str(keys[1]): [1, 2, 3], str(keys[2]): [1, 2, 3]}
    async with database.session() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status != "sent")
                .order_by(OutboxMessage.seq)
            )
        ).all()
    assert [(row.key, row.status) for row in rows] == [
        (str(big_key), "parked"),
        (str(big_key), "pending"),
    ]
    big = rows[0]
    assert len(big.envelope) > BIG
    expected = "over the limit" if limit is None else "MessageSizeTooLargeError"
    assert expected in (big.last_error or "")
    assert parked_gauge(unique) == 1

    code, out, err = await emporium_outbox("list", url=postgres_url)
    assert code == 0, err
    (line,) = out.splitlines()
    assert f"seq={big.seq} id={big.id} status=parked" in line
    assert expected in line
    code, out, err = await emporium_outbox("show", str(big.id), url=postgres_url)
    assert code == 0, err
    assert f"bytes={len(big.envelope)}" in out

    # Retried without a fix, the row is parked again (by the producer, at the latest), and
    # the event behind it still waits: a retry never lets a key's order be broken.
    code, out, err = await emporium_outbox("retry", "--all", url=postgres_url)
    assert code == 0, err
    assert out.startswith(f"un-parked seq={big.seq} ")
    strict = OutboxRelay(database, bus, service_name=unique, max_record_bytes=8 * 1024 * 1024)
    assert await strict.drain() == 0
    async with database.session() as session:
        statuses = (
            await session.scalars(
                select(OutboxMessage.status)
                .where(OutboxMessage.key == str(big_key), OutboxMessage.status != "sent")
                .order_by(OutboxMessage.seq)
            )
        ).all()
    assert list(statuses) == ["parked", "pending"]


def skewed(offset: timedelta) -> Callable[[], datetime]:
    return lambda: utcnow() + offset


async def test_two_writers_with_skewed_clocks_publish_one_key_in_commit_order(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: events of one key are consumed in the order their transactions committed,
    although the two writers' clocks are 100 ms apart (their ``created_at`` disagree with
    the commit order) and the relay publishes while they write.

    The writers serialise on the aggregate's row (``FOR UPDATE``), as the services do; each
    event carries the aggregate's version, so the commit order is 1, 2, ... N.
    """
    key = uuid.uuid4()
    async with database.session() as session:
        await session.execute(insert(AGGREGATE).values(id=key, version=0))
    writers = [
        Outbox(unique, clock=skewed(timedelta(milliseconds=100))),
        Outbox(unique, clock=skewed(timedelta(0))),
    ]
    relay = OutboxRelay(database, bus, service_name=unique, poll_seconds=0.2)
    per_writer = 15

    async def writer(outbox: Outbox) -> None:
        for _ in range(per_writer):
            async with database.session() as session:
                version = await session.scalar(
                    select(AGGREGATE.c.version).where(AGGREGATE.c.id == key).with_for_update()
                )
                assert version is not None
                await session.execute(
                    update(AGGREGATE).where(AGGREGATE.c.id == key).values(version=version + 1)
                )
                await outbox.add(session, stock(key, version + 1), key=key, topic=unique)
            await asyncio.sleep(0)  # let the other writer take the lock

    await relay.start()
    try:
        await asyncio.gather(*(writer(outbox) for outbox in writers))
        total = 2 * per_writer
        received = await read_topic(bus, unique, group=f"{unique}-reader", until=total)
    finally:
        await relay.stop()

    async with database.session() as session:
        by_clock = (
            await session.scalars(select(OutboxMessage.envelope).order_by(OutboxMessage.created_at))
        ).all()
    clock_order = [int(Envelope.from_bytes(body).data["on_hand"]) for body in by_clock]
    assert clock_order != sorted(clock_order), "the skew never reordered the writers' clocks"
    consumed = [int(Envelope.from_bytes(d.value).data["on_hand"]) for d in received]
    assert consumed == list(range(1, total + 1))
    assert len(received) == total  # and nothing twice: no batch failed here
