"""A relay process killed half-way loses nothing (PostgreSQL + Kafka, real processes).

The event is committed with its state change; the relay process is SIGKILLed after claiming
it (before publishing) or after Kafka acknowledged it (before marking it sent). A second
relay process then delivers it; consumers apply it exactly once (the inbox absorbs the
second copy of the after-publish case). A rolled-back write is never delivered.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.outbox import Outbox, OutboxMessage
from emporium.kit.testing import eventually

RELAY_PROC = Path(__file__).with_name("relay_proc.py")
NOTE = table("note", column("id", Uuid), column("text"))
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True),
]


async def run_relay_process(
    database: Database, bootstrap: str, service: str, crash: str = ""
) -> tuple[int, str]:
    """Run relay_proc.py to its end (or its death); (exit code, stdout)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RELAY_PROC),
        database.url,
        bootstrap,
        service,
        *([crash] if crash else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    output = stdout.decode()
    if process.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"relay process failed ({process.returncode}):\n{output}\n{stderr.decode()}")
    return process.returncode, output


async def apply_effect(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(
        insert(EFFECT).values(event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"])
    )


@pytest.mark.parametrize("crash", ["before-publish", "after-publish"])
async def test_an_event_written_with_its_change_is_delivered_although_the_relay_was_killed(
    database: Database, bus: Bus, kafka_bootstrap: str, unique: str, crash: str
) -> None:
    outbox = Outbox(unique)
    product = uuid.uuid4()
    async with database.session() as session:
        await session.execute(insert(NOTE).values(id=uuid.uuid4(), text="stock counted"))
        committed = [
            await outbox.add(
                session,
                StockChanged(product_id=product, on_hand=seq, reserved=0, available=seq),
                key=product,
                topic=unique,
            )
            for seq in (1, 2, 3)
        ]

    async def failing_request() -> None:
        async with database.session() as session:
            await outbox.add(
                session,
                StockChanged(product_id=product, on_hand=99, reserved=0, available=99),
                key=product,
                topic=unique,
            )
            raise RuntimeError("the request failed after writing its event")

    with pytest.raises(RuntimeError, match="after writing its event"):
        await failing_request()

    code, output = await run_relay_process(database, kafka_bootstrap, unique, crash)

    assert code == -signal.SIGKILL, output
    assert "claimed 3" in output
    assert "published" not in output
    async with database.session() as session:
        unsent = (
            await session.scalars(select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None)))
        ).all()
    assert sorted(unsent) == sorted(e.id for e in committed), "the killed relay lost events"

    code, output = await run_relay_process(database, kafka_bootstrap, unique)

    assert code == 0, output
    assert "published 3" in output

    consumer = EventConsumer(
        database,
        bus,
        group=unique,
        topics=[unique],
        handlers={StockChanged.type_name(): apply_effect},
        service_name="tests",
    )
    expected = 3 if crash == "before-publish" else 6  # after-publish: published twice
    outcomes: list[str] = []

    async def consumed() -> bool:
        outcomes.extend(await consumer.run_once(timeout=0.2))
        assert len(outcomes) >= expected, outcomes
        return True

    try:
        await eventually(consumed, timeout=60)
        assert await consumer.run_once(timeout=1) == [], "more was delivered than committed"
    finally:
        await consumer.close()

    assert Counter(outcomes) == (
        {"handled": 3} if crash == "before-publish" else {"handled": 3, "duplicate": 3}
    )
    async with database.session() as session:
        rows = (await session.execute(select(EFFECT.c.event_id, EFFECT.c.seq))).all()
    assert sorted(seq for _, seq in rows) == [1, 2, 3]
    assert {event_id for event_id, _ in rows} == {e.id for e in committed}
