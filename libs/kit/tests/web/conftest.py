"""Shared pieces of the web tests: a client on a running app, a span exporter, a TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Request
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.app import create_app, get_session
from emporium.kit.bus.base import BusUnavailable
from emporium.kit.errors import NotFound, TooManyRequests, problem_type
from emporium.kit.settings import DatabaseSettings, ServiceSettings
from emporium.kit.storage.errors import StorageUnavailable
from emporium.kit.tracing import setup_tracing

Serve = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@contextlib.asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
def serve() -> Serve:
    """``async with serve(app) as client``: ``app`` running (lifespan too), in-process.

    ``raise_app_exceptions`` stays on: an exception escaping the app fails the test, so the
    tests also show that the server never sees one.
    """
    return _serve


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


_EXPORTER = InMemorySpanExporter()
_installed = False


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The finished spans of the process (tests pick theirs by trace id)."""
    global _installed
    if not _installed:
        setup_tracing("kit-web-tests", _EXPORTER)
        _installed = True
    return _EXPORTER


class TcpProxy:
    """Forwards a local port to ``target``; ``stop()`` makes the port refuse connections.

    Lets a test take a real PostgreSQL away from an app and give it back.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(sink)
            sink.transport.abort()


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A stopped proxy to this test's real PostgreSQL database, and the URL through it."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.stop()


class WebSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_WEB_TEST_")


class WebDbSettings(ServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_WEB_TEST_")


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: Decimal = Field(gt=0)
    card_number: str = Field(pattern=r"^\d{16}$")


class ProductNotFound(NotFound):
    type = problem_type("product-not-found")
    title = "Product not found"


def demo_router() -> APIRouter:
    """Routes that fail in each of the ways the tests look at."""
    router = APIRouter()
    log = logging.getLogger("kit.web.demo")

    @router.post("/items")
    async def create_item(item: Item, limit: int = 10) -> dict[str, str]:
        return {"name": item.name}

    @router.get("/products/{pid}")
    async def product(pid: int) -> dict[str, int]:
        raise ProductNotFound(f"product {pid} does not exist", product_id=pid)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom: internal detail")

    @router.get("/bus-down")
    async def bus_down() -> None:
        raise BusUnavailable("broker gone")

    @router.get("/storage-down")
    async def storage_down() -> None:
        raise StorageUnavailable("s3 gone")

    @router.get("/integrity")
    async def integrity() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    @router.get("/busy")
    async def busy() -> None:
        raise TooManyRequests("slow down", retry_after=7)

    @router.get("/log")
    async def log_something() -> dict[str, str]:
        log.info("hello from the handler", extra={"answer": 42})
        return {"ok": "yes"}

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @router.get("/db")
    async def db(
        session: Annotated[AsyncSession, Depends(get_session, scope="function")],
    ) -> dict[str, int]:
        return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    @router.post("/notes")
    async def add_note(
        note: dict[str, str],
        session: Annotated[AsyncSession, Depends(get_session, scope="function")],
    ) -> dict[str, str]:
        await session.execute(text("CREATE TABLE IF NOT EXISTS note (text TEXT, n SMALLINT)"))
        await session.execute(
            text("INSERT INTO note VALUES (:text, :n)"),
            {"text": note["text"], "n": int(note.get("n", "1"))},
        )
        return {"stored": "yes"}

    return router


MakeApp = Callable[..., FastAPI]


@pytest.fixture
def make_app(unique: str) -> MakeApp:
    """``make_app(database_url=..., **create_app_kwargs)``: the demo app, named ``unique``."""

    def make(*, database_url: str | None = None, **kwargs: Any) -> FastAPI:
        settings: ServiceSettings
        if database_url is None:
            settings = WebSettings(service_name=unique, log_level="INFO")
        else:
            settings = WebDbSettings(
                service_name=unique, log_level="INFO", database_url=database_url
            )
        kwargs.setdefault("routers", [demo_router()])
        return create_app(settings=settings, title="Demo", **kwargs)

    return make
