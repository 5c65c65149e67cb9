"""Every service migrates from an empty database and boots with the kit's probes."""

from __future__ import annotations

import asyncio
import importlib
import inspect as inspect_module
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
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


def _runs_on_the_loop(call: object) -> bool:
    target = call if inspect_module.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect_module.iscoroutinefunction(target) or inspect_module.isasyncgenfunction(target)


def _thread_pool_calls(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None and not _runs_on_the_loop(sub.call):
            yield f"{sub.call.__module__}.{getattr(sub.call, '__qualname__', sub.call)}"
        yield from _thread_pool_calls(sub)


def _api_routes(routes: Iterable[object]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(included.routes)


@pytest.mark.parametrize(
    ("module", "factory"),
    [
        *((f"emporium.{service}.app", "create_service_app") for service in SERVICES),
        ("emporium.gateway.app", "create_gateway_app"),
        ("emporium.storefront.app", "create_storefront_app"),
    ],
)
def test_no_endpoint_or_dependency_runs_in_the_thread_pool(module: str, factory: str) -> None:
    """FastAPI runs a plain ``def`` endpoint or dependency in its thread pool: a hand-off to
    a thread and back on every request (the orders checkout did three of them per order)."""
    app = getattr(importlib.import_module(module), factory)()
    offenders = set()
    for route in _api_routes(app.routes):
        if not _runs_on_the_loop(route.endpoint):
            offenders.add(f"{route.path}: endpoint {route.endpoint.__qualname__}")
        offenders.update(f"{route.path}: {name}" for name in _thread_pool_calls(route.dependant))
    assert not offenders, sorted(offenders)
