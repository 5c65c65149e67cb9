"""Body-less GETs through the lean client, as a customer sees them: connections kept alive,
a connection the service closed while idle is not an error, an answer that is not small
still streams, and a service down or cut midway is still a 503 / 502 problem."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from emporium.gateway.lean import CannotConnect, LeanPool
from emporium.gateway.testing import GatewayFactory

Answer = Callable[[int], bytes]


class _Raw:
    """A service answering every request with ``answer(n)`` (n: the request's number);
    ``close_after`` closes each connection after that many answers."""

    def __init__(self, answer: Answer, close_after: int | None = None) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                served += 1
                writer.write(self.answer(self.requests))
                await writer.drain()
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Awaitable[tuple[str, _Raw]]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, close_after: int | None = None) -> tuple[str, _Raw]:
        service = _Raw(answer, close_after)
        server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", service

    yield start
    for server in servers:
        server.close()


def _json(n: int) -> bytes:
    body = b'{"n": %d}' % n
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


async def test_calls_share_one_kept_alive_connection(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    url, service = await raw(_json)
    gw = await gateway(catalog_url=url)
    for n in range(1, 6):
        answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
        assert answer.status_code == 200
        assert answer.json() == {"n": n}
    assert service.connections == 1


async def test_a_connection_the_service_closed_while_idle_is_not_an_error(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    url, service = await raw(_json, close_after=1)
    gw = await gateway(catalog_url=url)
    for _ in range(3):
        answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
        await asyncio.sleep(0.05)  # the close reaches the gateway, or not yet: both fine
        assert answer.status_code == 200
    assert service.requests == 3


async def test_an_unsized_answer_still_streams(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    def chunked(n: int) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\n[1, 2\r\n4\r\n, 3]\r\n0\r\n\r\n"
        )

    url, _ = await raw(chunked)
    gw = await gateway(catalog_url=url)
    answer = await gw.client.get("/api/v1/products", headers=gw.bearer())
    assert answer.status_code == 200
    assert answer.json() == [1, 2, 3]


async def test_an_answer_cut_midway_is_a_502_problem(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    def cut(n: int) -> bytes:
        return b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"n":'

    url, _ = await raw(cut, close_after=1)
    gw = await gateway(catalog_url=url)
    answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"


async def test_an_interim_answer_is_skipped(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    url, _ = await raw(lambda n: b"HTTP/1.1 100 Continue\r\n\r\n" + _json(n))
    gw = await gateway(catalog_url=url)
    answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
    assert answer.status_code == 200
    assert answer.json() == {"n": 1}


async def test_a_late_answer_is_a_504_and_the_next_call_gets_its_own(
    gateway: GatewayFactory, raw: Callable[..., Awaitable[tuple[str, _Raw]]]
) -> None:
    # The first answer comes after the gateway's timeout; its connection must not be used
    # again, or the next call would read that late answer as its own.
    class _Late(_Raw):
        async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    self.requests += 1
                    if self.requests == 1:
                        await asyncio.sleep(0.5)
                    writer.write(self.answer(self.requests))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

    service = _Late(_json)
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        gw = await gateway(catalog_url=url, upstream_timeout_seconds=0.2)
        late = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
        assert late.status_code == 504
        assert late.headers["content-type"] == "application/problem+json"
        await asyncio.sleep(0.4)  # the late answer reaches the dropped connection, or not
        answer = await gw.client.get("/api/v1/products/p1", headers=gw.bearer())
        assert answer.status_code == 200
        assert answer.json() == {"n": 2}
        assert service.connections == 2
    finally:
        server.close()


async def test_a_connection_made_while_the_loop_was_stalled_past_the_bound_is_used(
    raw: Callable[..., Awaitable[tuple[str, _Raw]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under thousands of calls one turn of the gateway's loop can outlast the connect
    # bound: the kernel connects at once, but the bound's timer runs before the connect's
    # completion is read. That is not a service that cannot be reached.
    url, service = await raw(_json)
    port = int(url.rsplit(":", 1)[1])
    pool = LeanPool(
        "127.0.0.1", port, f"127.0.0.1:{port}", connect_timeout=0.2, keepalive_seconds=4, limit=4096
    )
    loop = asyncio.get_running_loop()
    connect = loop.sock_connect

    async def stalled(sock: socket.socket, address: Any) -> None:
        loop.call_soon(time.sleep, 0.5)  # the loop's next turn takes 0.5 s
        await connect(sock, address)

    monkeypatch.setattr(loop, "sock_connect", stalled)
    answer = await pool.get("/products/p1", [])
    assert answer.status == 200
    assert service.connections == 1
    pool.close()


async def test_a_service_that_accepts_no_connection_is_still_cannot_connect() -> None:
    # A listening socket whose queue is full: the kernel answers no new connect.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = []
    try:
        for _ in range(8):  # fill the accept queue (its length is the backlog plus one)
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            held.append(client)
        pool = LeanPool(
            "127.0.0.1", port, f"127.0.0.1:{port}", connect_timeout=0.3, keepalive_seconds=4,
            limit=4096,
        )  # fmt: skip
        began = time.monotonic()
        with pytest.raises(CannotConnect, match=r"no connection within 0\.3 s"):
            await pool.get("/products/p1", [])
        assert time.monotonic() - began < 2
    finally:
        for client in held:
            client.close()
        server.close()
