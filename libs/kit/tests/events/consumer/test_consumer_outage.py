"""A database outage longer than ``consumer_stall_seconds``, seen through the probes.

The consumer's database goes away for real while events arrive: SQLite by its folder
disappearing, PostgreSQL through a proxy (``pg_proxy``) that refuses connections or answers
like a server that is starting up or full. Throughout, ``/healthz`` stays 200 (no restart
would help) and ``/readyz`` is 503 naming what the consumer waits for; the consumer keeps
its group membership; once the database is back every event is applied exactly once and
nothing was dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, select

from emporium.contracts.catalog import StockChanged
from emporium.kit.app import Resources, create_app
from emporium.kit.bus import Bus, Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.dlq import read_dead_letters
from emporium.kit.events import Envelope, wrap
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import create_kit_tables
from emporium.kit.settings import ServiceSettings
from emporium.kit.testing import eventually
from emporium.kit.workers import Worker

from .conftest import Mode, PgProxy

STOCK = StockChanged.type_name()
STALL_SECONDS = 2.0
METADATA = MetaData()
APPLIED = Table(
    "applied",
    METADATA,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
)


@dataclass
class Stack:
    """A database the test can take away and give back, and a bus."""

    name: str
    database: Database
    bus: Bus
    take_down: Callable[[], Awaitable[None]]
    bring_back: Callable[[], Awaitable[None]]


async def _create_tables(url: str) -> None:
    setup = Database(url)
    try:
        async with setup.engine.begin() as connection:
            await connection.run_sync(create_kit_tables)
            await connection.run_sync(METADATA.create_all)
    finally:
        await setup.dispose()


@dataclass
class Target:
    """What the ``stack`` fixture builds on, resolved synchronously (pytest-asyncio can not
    resolve async fixtures from inside an async one)."""

    name: str
    tmp_path: Path
    postgres_url: str | None = None
    proxy: PgProxy | None = None
    proxied_url: str | None = None
    kafka_bootstrap: str | None = None


@pytest.fixture(
    params=[
        "sqlite-memory",
        pytest.param("postgres-kafka:starting-up", marks=pytest.mark.integration),
        pytest.param("postgres-kafka:refused", marks=pytest.mark.integration),
        pytest.param("postgres-kafka:too-many-clients", marks=pytest.mark.integration),
    ]
)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite-memory":
        return Target(request.param, tmp_path)
    proxy, proxied_url = request.getfixturevalue("pg_proxy")
    return Target(
        request.param,
        tmp_path,
        postgres_url=request.getfixturevalue("postgres_url"),
        proxy=proxy,
        proxied_url=proxied_url,
        kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
    )


@pytest.fixture
async def stack(target: Target) -> AsyncIterator[Stack]:
    bus: Bus
    if target.proxy is None:
        folder, away = target.tmp_path / "data", target.tmp_path / "data-away"
        folder.mkdir()
        url = f"sqlite+aiosqlite:///{folder / 'service.db'}"
        await _create_tables(url)
        database = Database(url)
        bus = InMemoryBus()

        async def take_down() -> None:
            folder.rename(away)  # the file is gone: new connections cannot open it
            await database.engine.dispose()  # and the pooled ones are closed

        async def bring_back() -> None:
            away.rename(folder)

    else:
        assert target.postgres_url is not None
        assert target.proxied_url is not None
        assert target.kafka_bootstrap is not None
        proxy = target.proxy
        mode: Mode = target.name.split(":", 1)[1]  # type: ignore[assignment]
        await _create_tables(target.postgres_url)
        database = Database(target.proxied_url, connect_timeout=2.0)
        bus = KafkaBus(target.kafka_bootstrap, request_timeout=10)

        async def take_down() -> None:
            await proxy.set_mode(mode)

        async def bring_back() -> None:
            await proxy.set_mode("up")

    await bus.start()
    try:
        yield Stack(target.name, database, bus, take_down, bring_back)
    finally:
        await bus.stop()
        await database.dispose()


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def record_applied(session: object, envelope: Envelope) -> None:
    await session.execute(insert(APPLIED).values(event_id=envelope.id))  # type: ignore[attr-defined]


async def applied(database: Database) -> list[uuid.UUID]:
    async with database.session() as session:
        return list((await session.scalars(select(APPLIED.c.event_id))).all())


async def publish(bus: Bus, topic: str, count: int) -> list[uuid.UUID]:
    envelopes = [
        wrap(
            StockChanged(product_id=uuid.uuid4(), on_hand=n, reserved=0, available=n),
            source="test",
            key=uuid.uuid4(),
        )
        for n in range(count)
    ]
    await bus.publish(
        [
            Record(topic=topic, value=e.to_bytes(), key=e.key.encode(), headers=tuple(e.headers()))
            for e in envelopes
        ]
    )
    return [e.id for e in envelopes]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_database_outage_longer_than_the_stall_keeps_liveness_and_loses_nothing(
    stack: Stack, unique: str
) -> None:
    group = f"{unique}.consumer"
    consumers: list[EventConsumer] = []

    def workers(resources: Resources) -> list[Worker]:
        consumer = EventConsumer(
            resources.require_database(),
            resources.require_bus(),
            group=group,
            topics=[unique],
            handlers={STOCK: record_applied},
            service_name="tests",
            max_attempts=2,
            backoff_seconds=0.05,
            max_backoff=0.5,
            poll_timeout=0.2,
            stall_seconds=STALL_SECONDS,
        )
        consumers.append(consumer)
        return [consumer]

    app = create_app(
        settings=ServiceSettings(service_name=unique, log_json=False),
        title="outage",
        database=stack.database,
        bus=stack.bus,
        workers=workers,
    )
    await stack.bus.ensure_topics([unique], partitions=2)
    async with serving(app) as client:
        before = await publish(stack.bus, unique, 3)

        async def first_applied() -> bool:
            assert sorted(await applied(stack.database)) == sorted(before)
            return True

        await eventually(first_applied, timeout=60)
        (consumer,) = consumers
        member = consumer._subscription
        assert member is not None

        await stack.take_down()
        during = await publish(stack.bus, unique, 5)

        async def waiting_for_the_database() -> bool:
            ready = await client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert f"consumer {group}: database unavailable since " in ready.json()["detail"]
            return True

        await eventually(waiting_for_the_database, timeout=60)
        down_at = time.monotonic()
        # The outage outlasts the stall threshold several times over: liveness holds.
        while time.monotonic() - down_at < 3 * STALL_SECONDS:
            live = await client.get("/healthz")
            assert live.status_code == 200, live.text
            assert consumer.health() is None
            await asyncio.sleep(0.2)
        ready = (await client.get("/readyz")).json()
        assert ready["checks"][f"consumer {group}"]["status"] == "failed"
        assert consumer._subscription is member, "the consumer left its group"
        assert consumer.outages.keys() == {"database"}

        await stack.bring_back()

        async def all_applied_once() -> bool:
            assert sorted(await applied(stack.database)) == sorted(before + during)
            return True

        await eventually(all_applied_once, timeout=60)

        async def ready_again() -> bool:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            return True

        await eventually(ready_again, timeout=60)
        assert (await client.get("/healthz")).status_code == 200

    assert sample("emporium_handler_failures_total", group=group, type=STOCK, failure="unavailable")
    assert sample("emporium_handler_retries_total", group=group, type=STOCK) == 0
    assert sample("emporium_dead_lettered_total", group=group) == 0
    assert await read_dead_letters(stack.bus, f"{group}.dlq") == []
