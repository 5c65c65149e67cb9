"""Test support: real servers on real sockets, in this process (for any test suite).

Upstreams are small FastAPI apps (``FakeService``) served by uvicorn on free ports, the
edge the gateway really talks to; the gateway itself is served by uvicorn too, so streaming,
hop-by-hop headers and timeouts behave as in production. ``gateway(...)`` takes settings
overrides and returns a ``Running`` gateway with an httpx client on it (the
``gateway`` fixture of ``gateway/tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from emporium.gateway.app import create_gateway_app
from emporium.gateway.settings import Settings
from emporium.kit.app import Resources
from emporium.kit.testing.tokens import TokenMint

__all__ = [
    "FakeService",
    "GatewayFactory",
    "RawAnswer",
    "Running",
    "Servers",
    "free_port",
    "gateway_factory",
    "raw_request",
    "serving",
]


def free_port() -> int:
    """A port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Servers:
    """uvicorn servers on 127.0.0.1, stopped together (each stop costs ~0.2 s of polling)."""

    def __init__(self) -> None:
        self._running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(
        self, app: Any, port: int = 0, *, forwarded_allow_ips: str | None = None
    ) -> str:
        """Serve ``app`` (``port`` 0: any free one); returns its URL once it listens.

        ``forwarded_allow_ips`` as the kit's ``serve`` passes it (a gateway: its settings'
        value, which trusts no proxy: the gateway resolves the client itself).
        """
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            log_config=None,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        task = asyncio.create_task(server.serve())
        self._running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{bound}"

    async def stop(self) -> None:
        for server, _ in self._running:
            server.should_exit = True
        await asyncio.gather(*(task for _, task in self._running))
        self._running.clear()


@contextlib.asynccontextmanager
async def serving(app: Any, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (``port`` 0: any free one); yields its URL."""
    servers = Servers()
    try:
        yield await servers.start(app, port)
    finally:
        await servers.stop()


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP/1.1 answer read off the socket: status, headers (lower-case names), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def raw_request(
    base_url: str,
    target: bytes,
    *,
    method: bytes = b"GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> RawAnswer:
    """Send ``target`` exactly as given (clients normalise ``..`` and ``%2F``; this does not)."""
    from yarl import URL

    url = URL(base_url)
    if url.host is None or url.port is None:
        raise ValueError(f"not a server URL: {base_url}")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        lines = [method + b" " + target + b" HTTP/1.1", f"Host: {url.host}:{url.port}".encode()]
        lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
        lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close", b"", b""]
        writer.write(b"\r\n".join(lines) + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in header_lines)
    ]
    if ("transfer-encoding", "chunked") in parsed:
        rest = _unchunk(rest)
    return RawAnswer(int(status_line.split(" ")[1]), parsed, rest)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


class Item(BaseModel):
    """A schema whose name every fake service uses, each with other fields (OpenAPI merge)."""

    value: int


@dataclass
class FakeService:
    """An upstream service: echoes what it receives, plus a few special paths."""

    name: str
    hits: int = 0
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    jwks: dict[str, Any] | None = None
    jwks_fetches: int = 0
    streams_ended: int = 0
    streams_open: int = 0
    last_event_ids: list[str | None] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI(title=self.name)
        item_model = Item if self.name == "catalog" else _other_item(self.name)

        @app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/auth/jwks")
        async def jwks() -> dict[str, Any]:
            self.jwks_fetches += 1
            return self.jwks or {"keys": []}

        @app.get("/products/items", response_model=item_model)
        async def typed_item() -> Any:
            return {"value": 1, "label": "x"}

        @app.get("/media/_slow")
        async def slow() -> dict[str, str]:
            await asyncio.wait_for(self.release.wait(), 30)
            return {"status": "late"}

        @app.get("/media/_stream")
        async def stream() -> StreamingResponse:
            return StreamingResponse(self._drain(), media_type="application/octet-stream")

        @app.get("/orders/{order_id}/events")
        async def events(order_id: str, request: Request) -> StreamingResponse:
            self.last_event_ids.append(request.headers.get("last-event-id"))
            # "quiet-*": one event at once, then silence until the service stops.
            body = self._quiet() if order_id.startswith("quiet") else self._drain()
            return StreamingResponse(body, media_type="text/event-stream")

        @app.get("/media/_dir")
        async def directory(request: Request) -> Response:
            # What Starlette answers for a route that exists only with a trailing slash.
            with_slash = request.url.replace(path=request.url.path + "/")
            return Response(status_code=307, headers={"Location": str(with_slash)})

        @app.get("/media/_away")
        async def away() -> Response:
            return Response(status_code=302, headers={"Location": "/metrics"})

        @app.get("/media/_cdn")
        async def cdn() -> Response:
            return Response(status_code=302, headers={"Location": "https://cdn.example/a.webp"})

        @app.get("/products/_html")
        async def html() -> Response:
            self.hits += 1
            return Response(b"<html><body>hi</body></html>", media_type="text/html")

        @app.get("/media/_hop")
        async def hop() -> Response:
            return Response(
                b"ok",
                headers={"Connection": "x-secret", "X-Secret": "1", "X-Kept": "yes",
                         "Keep-Alive": "timeout=5"},
            )  # fmt: skip

        @app.api_route(
            "/{path:path}",
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )
        async def echo(request: Request, path: str) -> Response:
            self.hits += 1
            body = await request.body()
            return JSONResponse(
                status_code=404 if "_missing" in path else 200,
                content={
                    "service": self.name,
                    "method": request.method,
                    "path": request.url.path,
                    "query": request.url.query,
                    "headers": dict(request.headers),
                    "body_bytes": len(body),
                    "hits": self.hits,
                },
            )

        return app

    def stop(self) -> None:
        """Let every pending slow or streaming answer finish (before the server stops)."""
        self.release.set()
        self.chunks.put_nowait(None)

    async def _quiet(self) -> AsyncIterator[bytes]:
        self.streams_open += 1
        try:
            yield b"id: 1\ndata: open\n\n"
            await self.release.wait()
        finally:
            self.streams_open -= 1
            self.streams_ended += 1

    async def _drain(self) -> AsyncIterator[bytes]:
        try:
            while (chunk := await self.chunks.get()) is not None:
                yield chunk
        finally:
            self.streams_ended += 1


def _other_item(name: str) -> type[BaseModel]:
    class Item(BaseModel):  # same name, other shape: must not overwrite catalog's
        value: int
        label: str

    Item.__doc__ = f"The {name} item."
    return Item


@dataclass
class Running:
    """A gateway on a real socket, its upstreams and a client."""

    url: str
    app: FastAPI
    client: httpx.AsyncClient
    mint: TokenMint
    services: dict[str, FakeService]

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources

    def bearer(self, role: str = "customer", **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.token(role=role, **claims)}"}

    async def subscribed(self, timeout: float = 10) -> None:
        """Wait until the gateway listens to the catalog's announcements (with Redis):
        before that it keeps no answer in the process and may miss a drop."""
        from emporium.gateway.invalidation import StaleListener
        from emporium.kit.testing.polling import eventually

        listener = self.resources.get(StaleListener)

        async def ready() -> bool:
            return listener.subscribed.is_set()

        await eventually(ready, timeout=timeout)


GatewayFactory = Callable[..., Awaitable[Running]]


@contextlib.asynccontextmanager
async def gateway_factory() -> AsyncIterator[GatewayFactory]:
    """Start gateways with settings overrides: ``await start(rate_limit_anonymous=3)``.

    The three upstreams are ``FakeService``s unless a URL is given (``catalog_url=...``).
    ``jwks=True`` makes the gateway fetch keys from the fake customers' ``/auth/jwks``;
    ``cache_namespace`` isolates the gateway's Redis keys; ``mint`` is the token issuer
    (share it with a real service put behind the gateway).
    """
    async with contextlib.AsyncExitStack() as stack:
        servers = Servers()
        stack.push_async_callback(servers.stop)  # last: after the clients and fakes are done

        async def start(
            *, jwks: bool = False, mint: TokenMint | None = None, **overrides: Any
        ) -> Running:
            mint = mint or TokenMint()
            services: dict[str, FakeService] = {}
            # No front line unless a test asks (shed_enabled=True): these gateways share
            # the test's event loop, which a test's own load can stall for seconds on a
            # busy machine; refusing then would be the test's overload, not the gateway's.
            # For the same reason Redis gets 5 s, not 0.3 s: an answer read late by a
            # stalled loop would count as Redis down, and a hit or a window would be
            # skipped (Redis that is away refuses at once, and is tested so), and an
            # upstream connect gets 10 s, not 2 s (a fresh-clone CI's 20 connects at once
            # to a server on the same loop took longer; a closed port refuses at once). Dropped
            # answers are not fetched again unless a test asks (response_refresh=True):
            # the tests of invalidation watch the drop itself (the next answer a MISS).
            values: dict[str, Any] = {
                "log_json": False,
                "redis_url": None,
                "freeze_heap": False,
                "shed_enabled": False,
                "redis_timeout_seconds": 5.0,
                "upstream_connect_timeout_seconds": 10.0,
                "response_refresh": False,
            }
            for name in ("catalog", "customers", "orders"):
                if f"{name}_url" not in overrides:
                    service = FakeService(name, jwks=mint.jwks())
                    services[name] = service
                    stack.callback(service.stop)
                    values[f"{name}_url"] = await servers.start(service.app())
            values.update(overrides)
            namespace = values.pop("cache_namespace", None)
            extra = {"cache_namespace": namespace} if namespace else {}
            settings = Settings(**values)
            app = create_gateway_app(settings, keys=None if jwks else mint.keys(), **extra)
            url = await servers.start(app, forwarded_allow_ips=settings.forwarded_allow_ips)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url,
                    timeout=10.0,
                    # Below the server's 5 s keep-alive, as the gateway's own upstream
                    # pool is: never reuse a connection the server is closing.
                    limits=httpx.Limits(keepalive_expiry=4.0),
                )
            )
            return Running(url=url, app=app, client=client, mint=mint, services=services)

        yield start
