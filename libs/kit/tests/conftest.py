"""Shared pieces of the kit's tests: a real uvicorn server on the kit's lean HTTP protocol."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvicorn

from emporium.kit import runner

#: Starts a uvicorn server for an ASGI app on a free port; stopped when its test ends.
LeanServer = Callable[[Callable[..., Awaitable[None]]], Awaitable[tuple[uvicorn.Server, int]]]


@pytest.fixture
async def lean_server() -> AsyncIterator[LeanServer]:
    """Serves an app with ``runner.LeanHttpToolsProtocol`` on this test's loop (the way the
    runner does, without its process setup), so a test can talk to it over a socket."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Callable[..., Awaitable[None]]) -> tuple[uvicorn.Server, int]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app, http=runner.LeanHttpToolsProtocol, log_config=None, lifespan="off", loop="none"
        )
        served = uvicorn.Server(config)
        running.append((served, asyncio.create_task(served.serve(sockets=[sock]))))
        while not served.started:
            await asyncio.sleep(0.01)
        return served, port

    yield start
    for served, task in running:
        served.should_exit = True
        await task
