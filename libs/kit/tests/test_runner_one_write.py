"""An answer's head goes out with its body in one write; a head whose body does not follow
at once (a stream waiting for its first event, a HEAD answer) still goes out at once, and
``Expect: 100-continue`` is still answered before the head.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from .conftest import LeanServer

released = asyncio.Event()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    while (await receive()).get("more_body", False):
        pass
    if path == "/stream":  # the head, then a body only once the test says so
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await released.wait()
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
        return
    if path == "/fail":  # the head, then the app fails before any body
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"9")]}
        )
        raise RuntimeError("midway")
    body = path.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Recording:
    """A transport that records what is written to it (everything else passed on)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
async def server(lean_server: LeanServer) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    released.clear()
    yield await lean_server(_app)
    released.set()  # a stream still held lets go, so the server can stop


async def _connect(
    served: uvicorn.Server, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, _Recording]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while not served.server_state.connections:
        await asyncio.sleep(0.01)
    (protocol,) = served.server_state.connections
    recording = _Recording(protocol.transport)
    protocol.transport = recording  # type: ignore[assignment]
    return reader, writer, recording


async def test_an_answer_is_written_once_head_and_body_together(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer, recording = await _connect(served, port)
    for path in (b"/one", b"/two"):
        writer.write(b"GET " + path + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert await reader.readexactly(len(path)) == path
    # One write per answer: its head and its body.
    assert [(w[:17], w[-8:]) for w in recording.writes] == [
        (b"HTTP/1.1 200 OK\r\n", b"\r\n\r\n/one"),
        (b"HTTP/1.1 200 OK\r\n", b"\r\n\r\n/two"),
    ]
    writer.close()


async def test_a_head_answer_arrives_without_a_body(server: tuple[uvicorn.Server, int]) -> None:
    served, port = server
    reader, writer, _ = await _connect(served, port)
    writer.write(b"HEAD /page HTTP/1.1\r\nhost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 5" in head
    writer.write(b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    assert await reader.readexactly(5) == b"/next"
    writer.close()


async def test_a_stream_s_head_arrives_before_its_first_chunk(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer, _ = await _connect(served, port)
    writer.write(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in head
    released.set()
    assert await reader.readuntil(b"0\r\n\r\n") == b"4\r\nlate\r\n0\r\n\r\n"
    writer.close()


async def test_expect_100_continue_is_answered_before_the_head(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer, _ = await _connect(served, port)
    writer.write(
        b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n"
    )
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(b"abc")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert await reader.readexactly(7) == b"/upload"
    writer.close()


async def test_an_app_failing_after_its_head_sends_the_head_and_closes(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer, _ = await _connect(served, port)
    writer.write(b"GET /fail HTTP/1.1\r\nhost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no body
    writer.close()
