"""The runner's loop accepts every waiting connection within a turn or two, not one per turn.

libuv accepts one connection per turn of the loop, so a busy process left connections
waiting in the kernel until clients gave up; ``BatchAcceptLoop`` takes them in batches.
The tests count turns of the loop, never time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import cast

import pytest

from emporium.kit import runner
from emporium.kit.runner import BatchAcceptLoop


class _Counting(asyncio.Protocol):
    """Counts its connections; answers each one's bytes in upper case."""

    def __init__(self, made: list[asyncio.Transport]) -> None:
        self.made = made
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass
        self.made.append(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data.upper())


@pytest.fixture
def accepting_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = BatchAcceptLoop()
    yield loop
    loop.close()


def _turns(loop: asyncio.AbstractEventLoop, count: int) -> None:
    for _ in range(count):
        loop.run_until_complete(asyncio.sleep(0))


def test_connections_waiting_while_the_loop_was_busy_are_all_accepted_at_once(
    accepting_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ACCEPT_BATCH", 16)  # a few batches, few file descriptors
    loop = accepting_loop
    made: list[asyncio.Transport] = []
    server = loop.run_until_complete(
        loop.create_server(lambda: _Counting(made), "127.0.0.1", 0, backlog=1024)
    )
    port = server.sockets[0].getsockname()[1]
    waiting = 40  # three batches: plain uvloop takes one connection a turn
    # The loop is not running (as when it is busy): the kernel completes the handshakes.
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(waiting)]
    try:
        _turns(loop, 6)  # a batch per turn, then connection_made a turn later
        assert len(made) == waiting
        clients[0].sendall(b"ping")
        _turns(loop, 3)
        assert clients[0].recv(16) == b"PING"
    finally:
        for client in clients:
            client.close()
        for transport in made:
            transport.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        _turns(loop, 3)
    assert server.sockets == ()


def test_a_closed_server_accepts_nothing_more(accepting_loop: asyncio.AbstractEventLoop) -> None:
    loop = accepting_loop
    made: list[asyncio.Transport] = []
    server = loop.run_until_complete(
        loop.create_server(lambda: _Counting(made), "127.0.0.1", 0, backlog=16)
    )
    port = server.sockets[0].getsockname()[1]
    server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    _turns(loop, 3)
    assert made == []
