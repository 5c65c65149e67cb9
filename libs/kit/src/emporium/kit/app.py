"""The app factory: a FastAPI service with the kit's resources, probes, errors and telemetry.

A service is then a handful of lines::

    settings = Settings()  # ServiceSettings + DatabaseSettings + BusSettings + RedisSettings

    def make_relay_and_consumers(r: Resources) -> list[Worker]:
        return [OutboxRelay(r.require_database(), r.require_bus(), ...), EventConsumer(...)]

    app = create_app(
        settings=settings,
        title="Catalog",
        routers=[products.router],
        workers=make_relay_and_consumers,
    )

What ``create_app`` does:

- configures JSON logging and tracing once, installs the problem+json handlers and the
  request-context middleware (request id, server span, metrics, access log);
- in the lifespan, builds a resource for each settings fragment the service's settings
  include: ``Database`` (``DatabaseSettings``), the bus (``BusSettings``, started), the
  cache (``RedisSettings``) and the object storage (``StorageSettings``, started, bucket
  ensured); registers a readiness check for each; runs ``lifespan_hooks``;
  starts the workers (only when ``settings.run_workers``, and with several HTTP worker
  processes only in the leader: ``emporium.kit.runner``); and on shutdown undoes all of
  that in reverse order;
- stores everything in a typed ``Resources`` on ``app.state`` (``get_resources(request)``).

Objects passed in (``database=``, ``bus=``, ``cache=``, ``storage=``) are used as they are
and stay the caller's to start and close: the app only closes what it built itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.bus.base import Bus
from emporium.kit.db import Database
from emporium.kit.errors import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    ValidationProblem,
    install_problem_handlers,
)
from emporium.kit.health import Probes, ReadinessCheck, health_router
from emporium.kit.logs import configure_logging
from emporium.kit.middleware import (
    PathLimit,
    RequestContextMiddleware,
    RequestSizeLimitMiddleware,
)
from emporium.kit.runner import LeaderStatus, process_role, status_path, write_status
from emporium.kit.settings import (
    BusSettings,
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
    StorageSettings,
)
from emporium.kit.tracing import setup_tracing
from emporium.kit.workers import Worker

if TYPE_CHECKING:  # imported when used: a service without them never loads redis/aiobotocore
    from emporium.kit.cache.base import Cache
    from emporium.kit.storage.base import ObjectStorage

__all__ = [
    "LifespanHook",
    "Resources",
    "WorkerFactory",
    "create_app",
    "get_bus",
    "get_cache",
    "get_database",
    "get_resources",
    "get_session",
    "get_storage",
]

log = logging.getLogger("emporium.app")

T = TypeVar("T")


@dataclass(eq=False)
class Resources:
    """What a running service holds; one per app, on ``app.state.resources``.

    The ``database``/``bus``/``cache``/``storage`` fields are ``None`` when the service has
    none; ``require_*`` return them or fail loudly (a wiring error, found at startup).
    ``put``/``get`` hold any further object a ``lifespan_hook`` makes, keyed by its type.
    """

    settings: ServiceSettings
    probes: Probes
    database: Database | None = None
    bus: Bus | None = None
    cache: Cache | None = None
    storage: ObjectStorage | None = None
    workers: list[Worker] = field(default_factory=list)
    extras: dict[type[Any], object] = field(default_factory=dict)

    def require_database(self) -> Database:
        return _required(self.database, "database", "DatabaseSettings")

    def require_bus(self) -> Bus:
        return _required(self.bus, "bus", "BusSettings")

    def require_cache(self) -> Cache:
        return _required(self.cache, "cache", "RedisSettings")

    def require_storage(self) -> ObjectStorage:
        return _required(self.storage, "storage", "StorageSettings")

    def put(self, value: object) -> None:
        """Keep ``value`` for ``get(type(value))`` (one object per type)."""
        self.extras[type(value)] = value

    def get(self, kind: type[T]) -> T:
        """The object of type ``kind`` given to ``put``; ``LookupError`` if none."""
        value = self.extras.get(kind)
        if not isinstance(value, kind):
            raise LookupError(f"no {kind.__name__} among the app's resources")
        return value


def _required(value: T | None, what: str, how: str) -> T:
    if value is None:
        raise LookupError(f"this service has no {what} (give its settings {how})")
    return value


#: Makes the service's workers once its resources exist (called only if ``run_workers``).
WorkerFactory = Callable[[Resources], Sequence[Worker]]
#: Runs around the app's life, after the resources exist and before the workers start.
LifespanHook = Callable[[Resources], contextlib.AbstractAsyncContextManager[object]]


def get_resources(request: Request) -> Resources:
    """The app's ``Resources`` (a FastAPI dependency; also callable directly)."""
    resources = getattr(request.app.state, "resources", None)
    if not isinstance(resources, Resources):
        raise RuntimeError("the app has not started: its lifespan did not run")
    return resources


def get_database(request: Request) -> Database:
    """The service's ``Database`` (a FastAPI dependency)."""
    return get_resources(request).require_database()


def get_bus(request: Request) -> Bus:
    """The service's bus (a FastAPI dependency)."""
    return get_resources(request).require_bus()


def get_cache(request: Request) -> Cache:
    """The service's cache (a FastAPI dependency)."""
    return get_resources(request).require_cache()


async def get_storage(request: Request) -> ObjectStorage:
    """The service's object storage (a FastAPI dependency; ``async``: a plain ``def`` one
    runs in the thread pool)."""
    return get_resources(request).require_storage()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed after the endpoint, rolled back if it raises.

    Declare it with ``Depends(get_session, scope="function")`` so the commit happens
    before the response is sent (a failed commit is then an error response, not a 200).
    """
    async with get_database(request).session() as session:
        yield session


def create_app(
    *,
    settings: ServiceSettings,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    database: Database | None = None,
    bus: Bus | None = None,
    cache: Cache | None = None,
    storage: ObjectStorage | None = None,
    cache_namespace: str | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    workers: WorkerFactory | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
    max_body_bytes: int | None = None,
    body_path_limits: Sequence[PathLimit] = (),
    check_timeout: float = 2.0,
    stop_timeout: float = 15.0,
    openapi_url: str | None = "/openapi.json",
    docs_url: str | None = "/docs",
) -> FastAPI:
    """Build the service's FastAPI app (see the module docstring).

    ``readiness_checks`` add to the automatic ones (``database``, ``bus``, ``cache``,
    ``storage``); request bodies over ``max_body_bytes`` (default: the settings'
    ``max_body_bytes``) are refused with 413, except on paths matching a pattern of
    ``body_path_limits`` (``[(regex, limit)]``: an upload endpoint's own limit);
    ``check_timeout`` bounds each readiness check and ``stop_timeout`` each worker's or
    resource's shutdown.
    """
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    setup_tracing(settings.service_name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Again: uvicorn (re)configures its own loggers after importing the app.
        configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
        resources = Resources(settings=settings, probes=Probes(check_timeout=check_timeout))
        async with contextlib.AsyncExitStack() as stack:
            await _open_resources(
                resources, stack, stop_timeout,
                database=database, bus=bus, cache=cache, storage=storage,
                cache_namespace=cache_namespace,
            )  # fmt: skip
            resources.probes.add_checks(readiness_checks or {})
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook(resources))
            if workers is not None and settings.run_workers:
                await _start_workers(resources, workers, stack, stop_timeout)
            app.state.resources = resources
            log.info(
                "%s started (%s)",
                settings.service_name,
                ", ".join(resources.probes.checks) or "no resources",
                extra={"workers": [w.name for w in resources.workers]},
            )
            try:
                yield
            finally:
                log.info("%s stopping", settings.service_name)
        log.info("%s stopped", settings.service_name)

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url=docs_url,
        # The kit's middleware makes the server span (it also serves non-FastAPI apps);
        # FastAPI's own telemetry would make a second one around it.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    app.include_router(health_router(lambda request: get_resources(request).probes))
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        RequestSizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes if max_body_bytes is None else max_body_bytes,
        path_limits=body_path_limits,
    )
    # Added last, so outermost: it sees every response, the 413s and 500s included.
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    _document_problems(app)
    return app


async def _start_workers(
    resources: Resources,
    workers: WorkerFactory,
    stack: contextlib.AsyncExitStack,
    stop_timeout: float,
) -> None:
    """Start the background loops, unless another process of this server runs them.

    Under ``emporium.kit.runner.serve`` with several HTTP workers only the leader runs them
    (and writes their status every second); a follower watches that status instead, so its
    ``/healthz`` and ``/readyz`` report the loops as well.
    """
    role = process_role()
    path = status_path()
    if role == "follower" and path is not None:
        resources.probes.watch([LeaderStatus(path)])
        return
    for worker in workers(resources):
        await worker.start()
        stack.push_async_callback(_stop, worker.name, worker.stop, stop_timeout)
        resources.workers.append(worker)
    resources.probes.watch(resources.workers)
    if role == "leader" and path is not None:
        task = asyncio.create_task(_report_status(path, resources.workers), name="status")
        stack.push_async_callback(_cancel, task)


async def _report_status(path: Path, workers: list[Worker], every: float = 1.0) -> None:
    while True:
        try:
            write_status(path, workers)
        except OSError:
            log.warning("could not write the background loops' status to %s", path)
        await asyncio.sleep(every)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _open_resources(
    resources: Resources,
    stack: contextlib.AsyncExitStack,
    stop_timeout: float,
    *,
    database: Database | None,
    bus: Bus | None,
    cache: Cache | None,
    storage: ObjectStorage | None,
    cache_namespace: str | None,
) -> None:
    settings, probes = resources.settings, resources.probes
    if database is None and isinstance(settings, DatabaseSettings):
        database = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        stack.push_async_callback(_stop, "database", database.dispose, stop_timeout)
    if database is not None:
        resources.database = database
        probes.add_check("database", database.ping)

    if bus is None and isinstance(settings, BusSettings):
        from emporium.kit.bus.factory import make_bus

        bus = make_bus(settings)
        await bus.start()
        stack.push_async_callback(_stop, "bus", bus.stop, stop_timeout)
    if bus is not None:
        resources.bus = bus
        probes.add_check("bus", bus.ping)

    if cache is None and isinstance(settings, RedisSettings):
        from emporium.kit.cache.factory import make_cache

        cache = make_cache(settings, cache_namespace or settings.service_name)
        stack.push_async_callback(_stop, "cache", cache.close, stop_timeout)
    if cache is not None:
        resources.cache = cache
        # Not critical: the cache degrades to "no cache", the service still serves.
        probes.add_check("cache", _answers(cache.ping, "the cache"), critical=False)

    if storage is None and isinstance(settings, StorageSettings):
        from emporium.kit.storage.factory import make_storage

        storage = make_storage(settings)
        await storage.start()
        stack.push_async_callback(_stop, "storage", storage.close, stop_timeout)
        await _ensure_bucket(storage)
    if storage is not None:
        resources.storage = storage
        probes.add_check("storage", _answers(storage.ping, "the object storage"))


async def _ensure_bucket(storage: ObjectStorage) -> None:
    # Handy locally (a fresh SeaweedFS or media folder); where the bucket is provisioned
    # elsewhere or the store is down, carry on: /readyz reports it until it is there.
    from emporium.kit.storage.errors import StorageError

    try:
        await storage.ensure_bucket()
    except (StorageError, OSError) as exc:
        log.warning("could not ensure the storage bucket: %s: %s", type(exc).__name__, exc)


def _answers(ping: Callable[[], Awaitable[bool]], what: str) -> ReadinessCheck:
    """A readiness check from a ``ping`` that answers False instead of raising."""

    async def check() -> None:
        if not await ping():
            raise ConnectionError(f"{what} does not answer")

    return check


async def _stop(name: str, stop: Callable[[], Awaitable[object]], timeout: float) -> None:
    # Shutdown goes on whatever one part does: log, and stop the next.
    try:
        async with asyncio.timeout(timeout):
            await stop()
    except TimeoutError:
        log.error("stopping %s took more than %g s; left behind", name, timeout)
    except Exception:
        log.exception("stopping %s failed", name)


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema describe the 422 that is really sent: a problem+json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _problem_422(build())  # FastAPI's own schema (cached on the app), amended
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_422(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationProblem):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            if response is not None:
                response["content"] = problem
    # FastAPI's own 422 models are no longer referenced by any response: drop them.
    paths = json.dumps(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in paths:
            components.pop(unused, None)
