"""A lean HTTP/1.1 client for the calls most of the gateway's traffic is: a ``GET`` with no
body whose answer is small. Beside aiohttp, not instead of it.

aiohttp's request machinery (``ClientRequest``, the connector's bookkeeping, the payload
streams) was a fifth of the gateway's CPU on a token GET. Here a call is one write of the
request and httptools (the C parser uvicorn uses) reading the answer into memory on a
kept-alive connection: no streams, no per-request objects but the answer.

Only an answer that announces its ``Content-Length`` of at most ``limit`` bytes is taken
here. Any other (chunked, unsized, larger) raises ``NotSmall`` at its headers: the
connection is dropped and the caller asks again through aiohttp, which streams it (a GET is
idempotent). A connection kept idle is used again only within ``keepalive_seconds`` (below
the services' own idle timeout); one the service closed meanwhile is found out when the
call fails before any byte of the answer, and the call is made once more on a new one.
Errors: ``CannotConnect`` (refused, unreachable, connect timeout), ``BadAnswer`` (not HTTP,
closed or cut before its end); the caller's deadline cancels a call (its connection is
dropped).

The connect timeout bounds the kernel's connect, not this event loop's turn: under
thousands of calls a turn can outlast it, and the bound's timer then runs before the
connect's completion is read, though the kernel made the connection long before. A socket
found connected when the bound runs out is used (``_is_connected``); only one that is not
is ``CannotConnect``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from typing import cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["BadAnswer", "CannotConnect", "LeanAnswer", "LeanPool", "NotSmall"]


class NotSmall(Exception):
    """The answer is not a small, sized one: ask through the streaming client."""


class CannotConnect(OSError):
    """No connection: refused, unreachable, or not within the connect timeout."""


class BadAnswer(Exception):
    """The service's answer is not valid HTTP, or was cut before its end."""


def _is_connected(sock: socket.socket) -> bool:
    """Whether a non-blocking connect has completed (a peer, and no pending error)."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


class _Whole:
    """What ``relay.read_whole`` asks of ``answer.content``: the whole body is in."""

    @staticmethod
    def is_eof() -> bool:
        return True


class LeanAnswer:
    """An answer read whole, shaped as much of an ``aiohttp.ClientResponse`` as the proxy
    and the response cache use (status, headers raw and parsed, body, release/close)."""

    connection = None  # nothing held: the connection is back in the pool already
    content = _Whole()

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.raw_headers = raw_headers
        self.body = body
        self.content_length: int | None = len(body)
        self.headers = CIMultiDictProxy(
            CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers)
        )

    @property
    def content_type(self) -> str:
        raw = self.headers.get("content-type", "application/octet-stream")
        return raw.split(";")[0].strip().lower()  # as aiohttp has it

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Connection(asyncio.Protocol):
    """One kept-alive connection: one call at a time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[LeanAnswer] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._received = False
        self._not_small = False
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:  # a callback's raise comes as one too
            self._fail(NotSmall() if self._not_small else BadAnswer(f"not HTTP: {error}"))

    def eof_received(self) -> bool | None:
        self._fail(BadAnswer("the service closed the connection midway"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(
            BadAnswer("the service closed the connection midway")
            if self._received
            else ConnectionResetError("the service closed the connection")
        )

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return  # an interim answer (100 Continue): the real one follows
        length = next((v for k, v in self._headers if k == b"content-length"), None)
        if length is None or not length.strip().isdigit() or int(length) > self._limit:
            self._not_small = True
            raise NotSmall()  # stops the parser

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._headers, self._body = [], []
            return
        answer = LeanAnswer(self._parser.get_status_code(), self._headers, b"".join(self._body))
        if not self._parser.should_keep_alive():
            self.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(answer)

    # -- calls
    async def call(self, request: bytes) -> LeanAnswer:
        assert self._transport is not None
        assert self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._headers, self._body, self._received = [], [], False
        self._transport.write(request)
        try:
            return await self._answer
        except BaseException:
            self.close()  # cut midway, timed out or cancelled: never reused
            raise
        finally:
            self._answer = None

    def _fail(self, error: Exception) -> None:
        self.close()
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class LeanPool:
    """Kept-alive connections to one ``host:port`` (the calls' number is bounded by the
    caller's admission line; at most ``max_idle`` are kept idle)."""

    def __init__(
        self,
        host: str,
        port: int,
        authority: str,
        *,
        connect_timeout: float,
        keepalive_seconds: float,
        limit: int,
        max_idle: int = 100,
    ) -> None:
        self._host = host
        self._port = port
        self._authority = authority.encode("ascii")
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive_seconds
        self._limit = limit
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    @staticmethod
    def sendable(target: str, headers: Sequence[tuple[str, str]]) -> bool:
        """Whether the request may be written as it is (no line breaks to smuggle)."""
        text = target + "".join(n + v for n, v in headers)
        return "\r" not in text and "\n" not in text

    async def get(self, target: str, headers: Sequence[tuple[str, str]]) -> LeanAnswer:
        """``GET target`` with ``headers`` (``sendable``); the caller bounds the time."""
        lines = [b"GET ", target.encode("ascii"), b" HTTP/1.1\r\nhost: ", self._authority]
        for name, value in headers:
            lines += [b"\r\n", name.encode("latin-1"), b": ", value.encode("latin-1")]
        lines.append(b"\r\n\r\n")
        request = b"".join(lines)
        connection = self._idle_connection()
        if connection is not None:
            try:
                return self._done(connection, await connection.call(request))
            except ConnectionResetError:
                pass  # closed by the service while idle: once more, on a new connection
        connection = await self._connect()
        try:
            return self._done(connection, await connection.call(request))
        except ConnectionResetError:
            raise BadAnswer("the service closed the connection without answering") from None

    def _idle_connection(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            sock = await self._connected_socket(loop)
        except CannotConnect:
            raise
        except OSError as error:  # refused, unreachable, not resolved
            raise CannotConnect(str(error)) from error
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self._limit), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        return connection

    async def _connected_socket(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """A socket connected to the service within the connect timeout (every address the
        name resolves to in turn, as ``create_connection`` does)."""
        deadline = loop.time() + self._connect_timeout
        late = CannotConnect(f"no connection within {self._connect_timeout:g} s")
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise late from None
        failure: OSError = CannotConnect(f"{self._host} has no address")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                async with asyncio.timeout_at(deadline):
                    await loop.sock_connect(sock, address)
            except TimeoutError:
                if _is_connected(sock):
                    return sock  # made in time: only this loop was late to read it
                sock.close()
                raise late from None
            except OSError as error:
                sock.close()
                failure = error
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise failure

    def _done(self, connection: _Connection, answer: LeanAnswer) -> LeanAnswer:
        if not connection.closed and len(self._idle) < self._max_idle:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
