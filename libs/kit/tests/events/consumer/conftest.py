"""Fixtures of the consumer tests: ``pg_proxy``, a TCP proxy in front of the shared
PostgreSQL that a test can turn into a failing server.

Modes: ``up`` forwards; ``refused`` closes the listening port (connections are refused);
``starting-up`` and ``too-many-clients`` accept and answer the startup message with the
FATAL error a real server sends then (SQLSTATE 57P03, 53300). Going to any failing mode cuts
the connections already open, as a failover does. Only this test's connections go through
it: the shared server itself is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Literal

import pytest
from sqlalchemy.engine import make_url

__all__ = ["Mode", "PgProxy"]

Mode = Literal["up", "refused", "starting-up", "too-many-clients"]

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_FATAL: dict[str, tuple[str, str]] = {
    "starting-up": ("57P03", "the database system is starting up"),
    "too-many-clients": ("53300", "sorry, too many clients already"),
}


def error_response(sqlstate: str, message: str) -> bytes:
    """A protocol-3 ErrorResponse message (``E``), severity FATAL."""
    fields = b"".join(
        code + value.encode() + b"\0"
        for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


class PgProxy:
    """Listens on ``127.0.0.1:port`` and forwards to ``target`` while ``mode == "up"``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.mode: Mode = "up"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.set_mode("up")

    async def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode != "up":
            self._cut()
        if mode == "refused":
            await self._close_server()
        elif self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def stop(self) -> None:
        await self._close_server()
        self._cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode in _FATAL:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await self._refuse_startup(reader, writer, *_FATAL[self.mode])
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            self._spawn(self._pipe(source, sink))

    @staticmethod
    async def _refuse_startup(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sqlstate: str, message: str
    ) -> None:
        while True:
            length = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(length - 4)
            if int.from_bytes(body[:4], "big") in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")  # no TLS, no GSSAPI: the client sends its startup next
                await writer.drain()
                continue
            writer.write(error_response(sqlstate, message))
            await writer.drain()
            return

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
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
async def pg_proxy(postgres_url: str) -> AsyncIterator[tuple[PgProxy, str]]:
    """A started proxy (mode ``up``) to this test's PostgreSQL database, and the URL through it."""
    url = make_url(postgres_url)
    proxy = PgProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.stop()
