"""Fixtures of the event tests (outbox, consumer, dead letters): a database and a bus.

``stack`` is parametrised: the embedded stack (SQLite + the in-process bus) and the real
one (PostgreSQL + Kafka). Tests that take ``database``/``bus`` run on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid

from emporium.kit.bus import Bus
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.db import Database
from emporium.kit.outbox import create_kit_tables
from emporium.kit.tracing import setup_tracing

#: Tables of the tests' "service" (its state, written with the events).
TEST_METADATA = MetaData()
Table(
    "note",
    TEST_METADATA,
    Column("id", Uuid, primary_key=True),
    Column("text", String(200), nullable=False),
)
Table(
    "slot",
    TEST_METADATA,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
)
Table(
    "effect",
    TEST_METADATA,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("key", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
)


@pytest.fixture(
    params=["sqlite-memory", pytest.param("postgres-kafka", marks=pytest.mark.integration)]
)
def stack(request: pytest.FixtureRequest) -> tuple[str, str, str | None]:
    """(name, database URL, Kafka bootstrap or None for the in-process bus)."""
    if request.param == "sqlite-memory":
        return request.param, request.getfixturevalue("sqlite_url"), None
    return (
        request.param,
        request.getfixturevalue("postgres_url"),
        request.getfixturevalue("kafka_bootstrap"),
    )


@pytest.fixture
async def database(stack: tuple[str, str, str | None]) -> AsyncIterator[Database]:
    """The service database: the kit's tables plus ``note`` and ``effect``."""
    made = Database(stack[1])
    async with made.engine.begin() as connection:
        await connection.run_sync(create_kit_tables)
        await connection.run_sync(TEST_METADATA.create_all)
    yield made
    await made.dispose()


@pytest.fixture
async def bus(stack: tuple[str, str, str | None]) -> AsyncIterator[Bus]:
    """A started bus of the stack's kind."""
    bootstrap = stack[2]
    made: Bus = InMemoryBus() if bootstrap is None else KafkaBus(bootstrap, request_timeout=10)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span finished during the test."""
    exporter = InMemorySpanExporter()
    setup_tracing("kit-tests", exporter)
    yield exporter
    exporter.shutdown()
