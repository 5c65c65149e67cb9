"""A keep-alive connection waiting for its next request holds nothing of the last one
(uvicorn kept its scope, headers and cycle: 5,000 idle shoppers, 5,000 dead requests),
and connections still serve what they did: one request after another, pipelined
requests, a body sent after an early answer.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
import uvicorn
from uvicorn.importer import import_from_string

from emporium.kit import runner

from .conftest import LeanServer


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] != "/early":  # /early answers before reading the body
        while (await receive()).get("more_body", False):
            pass
    body = scope["path"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server(lean_server: LeanServer) -> tuple[uvicorn.Server, int]:
    return await lean_server(_app)


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


def _protocols(served: uvicorn.Server) -> list[Any]:
    return list(served.server_state.connections)


async def test_a_waiting_connection_holds_nothing_of_its_last_request(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for path in (b"/one", b"/two"):
        writer.write(b"GET " + path + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        assert await _answer(reader) == path
    await asyncio.sleep(0.05)
    (protocol,) = _protocols(served)
    assert (protocol.cycle, protocol.scope, protocol.headers) == (None, None, None)
    writer.close()


async def test_pipelined_requests_are_all_answered_in_order(
    server: tuple[uvicorn.Server, int],
) -> None:
    _, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(b"GET /%d HTTP/1.1\r\nhost: x\r\n\r\n" % i for i in range(5)))
    assert [await _answer(reader) for _ in range(5)] == [b"/%d" % i for i in range(5)]
    writer.close()


async def test_a_body_still_arriving_after_an_early_answer_breaks_nothing(
    server: tuple[uvicorn.Server, int],
) -> None:
    served, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc")
    assert await _answer(reader) == b"/early"
    writer.write(b"defghij")  # the rest of the first body, after its answer
    writer.write(b"GET /after HTTP/1.1\r\nhost: x\r\n\r\n")
    assert await _answer(reader) == b"/after"
    await asyncio.sleep(0.05)
    (protocol,) = _protocols(served)
    assert protocol.cycle is None
    writer.close()


def test_the_runner_serves_with_the_lean_protocol() -> None:
    config = runner._config("x:y", host="127.0.0.1", port=0, forwarded_allow_ips="")
    # By name, as uvicorn loads it (and as the config travels to spawned children).
    assert import_from_string(pickle.loads(pickle.dumps(config.http))) is (
        runner.LeanHttpToolsProtocol
    )
