"""Liveness follows the workers, readiness the dependencies; the lifespan orders it all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic_settings import SettingsConfigDict

from emporium.kit.app import Resources, create_app, get_resources
from emporium.kit.bus.base import Bus
from emporium.kit.cache.base import Cache
from emporium.kit.db import Database
from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type
from emporium.kit.settings import (
    BusSettings,
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
    StorageSettings,
)
from emporium.kit.storage.base import ObjectStorage
from emporium.kit.workers import ReportsReadiness, Worker

MakeApp = Callable[..., FastAPI]
Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


class FakeWorker:
    """The edge of the system: a worker whose health the test decides."""

    def __init__(self, name: str, events: list[str], *, fail_stop: bool = False) -> None:
        self._name = name
        self.events = events
        self.problem: str | None = None
        self.fail_stop = fail_stop

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        self.events.append(f"start {self._name}")

    async def stop(self) -> None:
        self.events.append(f"stop {self._name}")
        if self.fail_stop:
            raise RuntimeError("cannot stop cleanly")

    def health(self) -> str | None:
        return self.problem


def test_fake_worker_satisfies_the_protocol() -> None:
    assert isinstance(FakeWorker("w", []), Worker)


async def test_healthz_fails_while_a_worker_is_unhealthy(make_app: MakeApp, serve: Serve) -> None:
    events: list[str] = []
    consumer = FakeWorker("consumer orders-catalog", events)
    relay = FakeWorker("relay", events)
    async with serve(make_app(workers=lambda _: [relay, consumer])) as client:
        healthy = await client.get("/healthz")
        consumer.problem = "has not polled for 75 s"
        stuck = await client.get("/healthz")
        consumer.problem = None
        recovered = await client.get("/healthz")

    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok"}
    assert stuck.status_code == 503
    assert stuck.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = stuck.json()
    assert problem["type"] == problem_type("unhealthy")
    assert problem["detail"] == "consumer orders-catalog: has not polled for 75 s"
    assert problem["workers"] == {"consumer orders-catalog": "has not polled for 75 s"}
    assert recovered.status_code == 200


class WaitingWorker(FakeWorker):
    """A worker that can say it waits for a dependency (``ReportsReadiness``)."""

    def __init__(self, name: str, events: list[str]) -> None:
        super().__init__(name, events)
        self.waiting_for: str | None = None

    def readiness(self) -> str | None:
        return self.waiting_for


def test_waiting_worker_reports_readiness() -> None:
    assert isinstance(WaitingWorker("w", []), ReportsReadiness)
    assert not isinstance(FakeWorker("w", []), ReportsReadiness)


async def test_a_worker_waiting_for_a_dependency_fails_readiness_but_not_liveness(
    make_app: MakeApp, serve: Serve
) -> None:
    events: list[str] = []
    consumer = WaitingWorker("consumer orders.catalog", events)
    relay = FakeWorker("relay", events)
    async with serve(make_app(workers=lambda _: [relay, consumer])) as client:
        ready = await client.get("/readyz")
        consumer.waiting_for = "database unavailable since 2026-12-01T07:31:02Z (OSError: x)"
        live_while_waiting = await client.get("/healthz")
        waiting = await client.get("/readyz")
        consumer.waiting_for = None
        ready_again = await client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["checks"]["consumer orders.catalog"]["status"] == "ok"
    assert "relay" not in ready.json()["checks"]
    assert live_while_waiting.status_code == 200
    assert waiting.status_code == 503
    problem = waiting.json()
    assert problem["failed"] == ["consumer orders.catalog"]
    assert problem["detail"] == (
        "failed: consumer orders.catalog; consumer orders.catalog: "
        "database unavailable since 2026-12-01T07:31:02Z (OSError: x)"
    )
    assert problem["checks"]["consumer orders.catalog"]["error"].startswith("database unavailable")
    assert ready_again.status_code == 200


async def test_workers_start_after_hooks_and_stop_in_reverse_even_if_one_fails(
    make_app: MakeApp, serve: Serve
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def hook(resources: Resources) -> AsyncIterator[None]:
        events.append("hook in")
        yield
        events.append("hook out")

    def workers(_: Resources) -> list[Worker]:
        return [
            FakeWorker("a", events),
            FakeWorker("b", events, fail_stop=True),
            FakeWorker("c", events),
        ]

    async with serve(make_app(workers=workers, lifespan_hooks=[hook])) as client:
        assert (await client.get("/healthz")).status_code == 200
        events.append("serving")

    assert events == [
        "hook in",
        "start a",
        "start b",
        "start c",
        "serving",
        "stop c",
        "stop b",
        "stop a",
        "hook out",
    ]


async def test_workers_do_not_run_when_the_settings_say_so(unique: str, serve: Serve) -> None:
    made: list[str] = []

    def workers(_: Resources) -> list[Worker]:
        made.append("called")
        return []

    settings = ServiceSettings(service_name=unique, run_workers=False)
    async with serve(create_app(settings=settings, title="t", workers=workers)) as client:
        assert (await client.get("/healthz")).status_code == 200

    assert made == []


async def test_readyz_lists_each_check_when_all_pass(
    make_app: MakeApp, serve: Serve, sqlite_url: str
) -> None:
    async def search() -> None:
        return None

    app = make_app(database_url=sqlite_url, readiness_checks={"search": search})
    async with serve(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "search": "ok",
    }


async def test_readyz_names_every_failed_check(make_app: MakeApp, serve: Serve) -> None:
    async def search() -> None:
        raise ConnectionRefusedError("search is down")

    async def hangs() -> None:
        await asyncio.Event().wait()

    async def fine() -> None:
        return None

    app = make_app(
        database_url="postgresql+asyncpg://x:y@127.0.0.1:1/x",
        readiness_checks={"search": search, "hangs": hangs, "fine": fine},
        check_timeout=0.3,
    )
    async with serve(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["type"] == problem_type("not-ready")
    assert problem["failed"] == ["database", "search", "hangs"]
    assert problem["detail"] == "failed: database, search, hangs"
    checks = problem["checks"]
    assert checks["fine"]["status"] == "ok"
    assert "ConnectionRefusedError" in checks["database"]["error"]
    assert "search is down" in checks["search"]["error"]
    assert checks["hangs"]["error"] == "no answer within 0.3 s"


class FullSettings(ServiceSettings, DatabaseSettings, BusSettings, RedisSettings, StorageSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_WEB_TEST_")


def resources_router() -> APIRouter:
    router = APIRouter()

    @router.get("/resources")
    async def resources(request: Request) -> dict[str, str]:
        r = get_resources(request)
        return {
            "database": type(r.require_database()).__name__,
            "bus": type(r.require_bus()).__name__,
            "cache": type(r.require_cache()).__name__,
            "storage": type(r.require_storage()).__name__,
        }

    return router


async def test_resources_are_built_from_the_settings_fragments(
    unique: str, serve: Serve, sqlite_url: str, tmp_path: Path
) -> None:
    settings = FullSettings(
        service_name=unique, database_url=sqlite_url, bus="memory", media_dir=str(tmp_path)
    )
    app = create_app(settings=settings, title="t", routers=[resources_router()])
    async with serve(app) as client:
        ready = await client.get("/readyz")
        built = await client.get("/resources")

    assert ready.status_code == 200
    assert {name: c["status"] for name, c in ready.json()["checks"].items()} == {
        "database": "ok",
        "bus": "ok",
        "cache": "ok",
        "storage": "ok",
    }
    assert built.json()["database"] == Database.__name__
    assert isinstance(app.state.resources.bus, Bus)
    assert isinstance(app.state.resources.cache, Cache)
    assert isinstance(app.state.resources.storage, ObjectStorage)


async def test_s3_storage_is_started_and_its_bucket_made(
    unique: str, serve: Serve, sqlite_url: str, s3_endpoint: str
) -> None:
    settings = FullSettings(
        service_name=unique,
        database_url=sqlite_url,
        storage="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=unique,
    )
    async with serve(create_app(settings=settings, title="t")) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json()["checks"]["storage"]["status"] == "ok"


async def test_storage_that_is_down_fails_readiness_but_not_startup(
    unique: str, serve: Serve, sqlite_url: str
) -> None:
    settings = FullSettings(
        service_name=unique,
        database_url=sqlite_url,
        storage="s3",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_bucket=unique,
        s3_access_key_id="x",
        s3_secret_access_key="y",
    )
    async with serve(create_app(settings=settings, title="t", check_timeout=5)) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]


async def test_a_cache_that_is_down_degrades_readiness_without_failing_it(
    unique: str, serve: Serve, sqlite_url: str
) -> None:
    settings = FullSettings(
        service_name=unique, database_url=sqlite_url, redis_url="redis://127.0.0.1:1/0"
    )
    async with serve(create_app(settings=settings, title="t")) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["status"] == "failed"
    assert body["checks"]["database"]["status"] == "ok"


async def test_a_missing_resource_is_a_clear_500_not_a_crash(unique: str, serve: Serve) -> None:
    settings = ServiceSettings(service_name=unique)
    app = create_app(settings=settings, title="t", routers=[resources_router()])
    async with serve(app) as client:
        response = await client.get("/resources")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_stay_out_of_the_api_schema(
    make_app: MakeApp, serve: Serve, path: str
) -> None:
    async with serve(make_app()) as client:
        schema = (await client.get("/openapi.json")).json()
    assert path not in schema["paths"]
