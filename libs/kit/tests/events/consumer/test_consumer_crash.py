"""A consumer process killed mid-batch and restarted applies each event once, in order.

PostgreSQL + Kafka, real processes: events go through the outbox and the relay; a consumer
process (consumer_proc.py) is SIGKILLed after a few effects, before it could commit the
batch's offsets; a restarted member of the group gets the batch again, the inbox turns what
was already applied into duplicates, and every key's events end up applied in their order,
each exactly once. Both ways of applying a fetched batch: a transaction per event (a slow
handler, killed between two events) and one transaction per batch with its inbox rows
written at once (killed after the batch committed, while its offsets wait to be committed).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.outbox import Outbox
from emporium.kit.relay import OutboxRelay
from emporium.kit.testing import eventually

CONSUMER_PROC = Path(__file__).with_name("consumer_proc.py")
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))
KEYS, PER_KEY = 4, 15

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True),
]


async def effects(database: Database) -> list[tuple[uuid.UUID, str, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(EFFECT.c.event_id, EFFECT.c.key, EFFECT.c.seq).order_by(EFFECT.c.n)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def apply_effect(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(
        insert(EFFECT).values(event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"])
    )


@pytest.mark.parametrize(("mode", "delay"), [("per-event", "0.1"), ("batched", "30")])
async def test_a_consumer_killed_mid_batch_then_restarted_applies_each_event_once_in_order(
    database: Database, bus: Bus, kafka_bootstrap: str, unique: str, mode: str, delay: str
) -> None:
    await bus.ensure_topics([unique], partitions=3)
    outbox = Outbox(unique)
    keys = [uuid.uuid4() for _ in range(KEYS)]
    for seq in range(PER_KEY):
        async with database.session() as session:
            for key in keys:
                data = StockChanged(product_id=key, on_hand=seq, reserved=0, available=seq)
                await outbox.add(session, data, key=key, topic=unique)
    assert await OutboxRelay(database, bus, service_name=unique).drain() == KEYS * PER_KEY

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER_PROC),
        database.url,
        kafka_bootstrap,
        unique,
        unique,
        delay,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def some_applied() -> bool:
            assert process.returncode is None, "the consumer process ended by itself"
            return len(await effects(database)) >= 5

        await eventually(some_applied, timeout=90)
    finally:
        process.kill()  # SIGKILL: no final commit, no leaving the group
        await process.wait()
    applied_before_kill = len(await effects(database))
    assert 5 <= applied_before_kill < KEYS * PER_KEY

    restarted = EventConsumer(
        database,
        bus,
        group=unique,
        topics=[unique],
        handlers={StockChanged.type_name(): apply_effect},
        service_name="tests",
    )
    outcomes: list[str] = []

    async def all_applied() -> bool:
        outcomes.extend(await restarted.run_once(timeout=0.2))
        return len(await effects(database)) >= KEYS * PER_KEY

    try:
        # The killed member still holds its partitions until its session times out.
        await eventually(all_applied, timeout=120)
        assert await restarted.run_once(timeout=1) == []
    finally:
        await restarted.close()

    rows = await effects(database)
    assert len(rows) == KEYS * PER_KEY
    assert set(Counter(event_id for event_id, _, _ in rows).values()) == {1}, "applied twice"
    per_key: dict[str, list[int]] = defaultdict(list)
    for _, key_text, seq in rows:
        per_key[key_text].append(seq)
    assert per_key == {str(key): list(range(PER_KEY)) for key in keys}, "out of order"
    # The events applied before the kill were delivered again (their offsets were never
    # committed) and the inbox made them no-ops.
    assert outcomes.count("duplicate") >= 1, Counter(outcomes)
    assert outcomes.count("handled") == KEYS * PER_KEY - applied_before_kill
