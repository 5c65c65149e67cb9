"""Every service migrates from an empty database and boots with the kit's probes."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.kit.migrations import upgrade_to_head

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["catalog", "customers", "orders"]


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_build_the_schema_from_empty_and_rerun_as_a_no_op(
    service: str, database_url: str
) -> None:
    migrations = ROOT / "services" / service / "migrations"
    await asyncio.to_thread(upgrade_to_head, migrations, database_url)
    await asyncio.to_thread(upgrade_to_head, migrations, database_url)
    assert {"outbox_message", "inbox_message", "alembic_version"} <= await _tables(database_url)


@pytest.mark.parametrize("service", SERVICES)
async def test_service_answers_its_probes_on_the_embedded_default(
    service: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = service.upper() + "_"
    monkeypatch.setenv(prefix + "DATABASE_URL", sqlite_url)
    monkeypatch.setenv(prefix + "BUS", "memory")
    monkeypatch.setenv(prefix + "STORAGE", "local")
    monkeypatch.setenv(prefix + "LOG_JSON", "false")
    await asyncio.to_thread(upgrade_to_head, ROOT / "services" / service / "migrations", sqlite_url)
    module = importlib.import_module(f"emporium.{service}.app")
    app = module.create_service_app()
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/metrics")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
        assert spec["info"]["title"].lower().endswith(service)


async def test_replicas_migrating_an_empty_postgres_database_at_once_all_succeed(
    postgres_url: str,
) -> None:
    # Separate processes, as replicas are (Alembic's context is process-global).
    env = {**os.environ, "CUSTOMERS_DATABASE_URL": postgres_url, "CUSTOMERS_LOG_JSON": "false"}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "emporium.customers",
            "migrate",
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 120) for p in processes]
    failed = [out.decode() for p, (out, _) in zip(processes, outputs, strict=True) if p.returncode]
    assert failed == []
    assert "alembic_version" in await _tables(postgres_url)
