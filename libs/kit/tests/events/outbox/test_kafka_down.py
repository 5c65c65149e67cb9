"""Kafka down: requests still succeed, the outbox keeps their events, the relay catches up.

A tiny FastAPI app writes a row and its event in one unit of work. With the broker stopped
(``deploy/local/infra.sh down kafka``) its requests still answer 201; the events wait in the
outbox (the relay's publishes fail and are retried with backoff); once the broker is back
the running relay publishes them and a running consumer, which kept polling through the
outage, applies them.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox, OutboxMessage
from emporium.kit.relay import OutboxRelay
from emporium.kit.testing import eventually

ROOT = Path(__file__).resolve().parents[5]
INFRA = ROOT / "deploy" / "local" / "infra.sh"
NOTE = table("note", column("id", Uuid), column("text"))
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.kafka_restart,
    pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True),
]


def infra(command: str) -> None:
    subprocess.run(["bash", str(INFRA), command, "kafka"], check=True, timeout=300)


@pytest.fixture
def kafka_outage(kafka_bootstrap: str) -> Iterator[None]:
    """Lets the test stop the broker; it is started again whatever happens."""
    if not INFRA.exists():
        pytest.fail(f"{INFRA} is missing: the test cannot stop and start Kafka")
    try:
        yield
    finally:
        infra("up")


class NoteIn(BaseModel):
    text: str
    product_id: uuid.UUID
    on_hand: int


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the endpoint, rolled back if it raises."""
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def make_app(database: Database, outbox: Outbox, topic: str) -> FastAPI:
    """One endpoint: a note and its event, in the request's single unit of work."""
    app = FastAPI()
    app.state.database = database

    @app.post("/notes", status_code=201)
    async def create_note(body: NoteIn, session: Session) -> dict[str, str]:
        note_id = uuid.uuid4()
        await session.execute(insert(NOTE).values(id=note_id, text=body.text))
        data = StockChanged(
            product_id=body.product_id, on_hand=body.on_hand, reserved=0, available=body.on_hand
        )
        await outbox.add(session, data, key=body.product_id, topic=topic)
        return {"id": str(note_id)}

    return app


async def apply_effect(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(
        insert(EFFECT).values(event_id=envelope.id, key=envelope.key, seq=envelope.data["on_hand"])
    )


async def test_events_written_while_kafka_is_down_wait_in_the_outbox_and_go_out_when_it_returns(
    database: Database, bus: Bus, unique: str, kafka_outage: None
) -> None:
    await bus.ensure_topics([unique])
    outbox = Outbox(unique)
    app = make_app(database, outbox, unique)
    relay = OutboxRelay(
        database, bus, service_name=unique, poll_seconds=0.5, base_backoff=0.2, max_backoff=2
    )
    consumer = EventConsumer(
        database,
        bus,
        group=unique,
        topics=[unique],
        handlers={StockChanged.type_name(): apply_effect},
        service_name="tests",
        poll_timeout=0.5,
        max_backoff=2,
    )
    product = uuid.uuid4()
    await relay.start()
    await consumer.start()
    try:
        await asyncio.to_thread(infra, "down")

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notes") as client:
            for seq in range(3):
                response = await client.post(
                    "/notes",
                    json={"text": f"note {seq}", "product_id": str(product), "on_hand": seq},
                )
                assert response.status_code == 201, response.text

        async def all_three_failed_to_publish() -> bool:
            async with database.session() as session:
                waiting = (
                    await session.scalars(
                        select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                    )
                ).all()
            assert len(waiting) == 3, "an event was published while Kafka was down"
            return all(row.attempts >= 1 and row.last_error for row in waiting)

        await eventually(all_three_failed_to_publish, timeout=60)
        assert relay.last_error is not None

        async def backlog_reported() -> bool:
            # The gauge is refreshed after a drain at most every ``metrics_every`` (1 s).
            backlog = REGISTRY.get_sample_value("emporium_outbox_backlog", {"service": unique})
            return backlog == 3

        await eventually(backlog_reported, timeout=10)

        await asyncio.to_thread(infra, "up")

        async def caught_up() -> bool:
            async with database.session() as session:
                rows = (await session.execute(select(EFFECT.c.seq).order_by(EFFECT.c.n))).all()
            assert [row[0] for row in rows] == [0, 1, 2], f"applied so far: {rows}"
            return True

        await eventually(caught_up, timeout=180, interval=0.5)
        async with database.session() as session:
            pending = await session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))
            )
            assert pending.all() == []
        assert relay.health() is None
        assert consumer.health() is None, "the consumer loop did not survive the outage"
    finally:
        await consumer.stop()
        await relay.stop()
