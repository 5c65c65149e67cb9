"""A service with a parked outbox row: degraded readiness, never failed liveness."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic_settings import SettingsConfigDict
from sqlalchemy import select, update

from emporium.contracts.catalog import StockChanged
from emporium.kit.app import create_app
from emporium.kit.db import Database
from emporium.kit.eventing import event_workers
from emporium.kit.outbox import Outbox, OutboxMessage, create_kit_tables
from emporium.kit.settings import BusSettings, DatabaseSettings, ServiceSettings
from emporium.kit.testing import eventually


class Settings(ServiceSettings, DatabaseSettings, BusSettings):
    model_config = SettingsConfigDict(env_prefix="OUTBOX_PROBES_TEST_")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``create_app`` configures the process's logging: undo it for the tests that follow."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"]
    saved = [
        (lg, list(lg.handlers), lg.level, lg.propagate)
        for lg in (logging.getLogger(name) for name in names)
    ]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


async def test_a_parked_row_degrades_readyz_but_keeps_it_and_healthz_200(
    sqlite_url: str, unique: str
) -> None:
    """Invariant: with a parked row, ``/readyz`` answers 200 with ``status: degraded`` and
    the ``outbox`` check failed (naming the parked row), and ``/healthz`` answers 200."""
    database = Database(sqlite_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(create_kit_tables)
    outbox = Outbox(unique)
    key = uuid.uuid4()
    async with database.session() as session:
        envelope = await outbox.add(
            session,
            StockChanged(product_id=key, on_hand=1, reserved=0, available=1),
            key=key,
            topic=unique,
        )
        grown = envelope.to_bytes().replace(b'"data":{', b'"data":{"blob":"' + b"x" * 4096 + b'",')
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == envelope.id).values(envelope=grown)
        )
    settings = Settings(
        service_name=unique,
        database_url=sqlite_url,
        bus="memory",
        outbox_poll_seconds=0.05,
        outbox_max_record_bytes=1024,
        log_json=False,
    )
    app = create_app(settings=settings, title="t", workers=event_workers(Outbox(unique)))

    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def degraded() -> httpx.Response:
            response = await client.get("/readyz")
            assert response.json().get("checks", {}).get("outbox", {}).get("status") == "failed"
            return response

        ready = await eventually(degraded, timeout=30)
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert "1 parked outbox row" in ready.json()["checks"]["outbox"]["error"]
        assert (await client.get("/healthz")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert f'emporium_outbox_parked{{service="{unique}"}} 1.0' in metrics

    async with database.session() as session:
        status = await session.scalar(select(OutboxMessage.status))
    assert status == "parked"
    await database.dispose()
