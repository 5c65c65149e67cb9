"""A service run as its own process exports its spans over OTLP when told where to."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

import httpx
import pytest

from emporium.kit.testing import eventually

ROOT = Path(__file__).resolve().parents[2]


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_request_trace_reaches_the_collector_with_the_callers_trace_id(
    collector: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/catalog.db",
        "CATALOG_BUS": "memory",
        "CATALOG_STORAGE": "local",
        "CATALOG_MEDIA_DIR": str(tmp_path / "media"),
        "CATALOG_PORT": str(port),
        "CATALOG_REDIS_URL": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "emporium.catalog", "serve", "--migrate"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def answers() -> bool:
                try:
                    response = await client.get(
                        "/openapi.json",
                        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
                    )
                except httpx.TransportError:
                    return False
                return response.status_code == 200

            await eventually(answers, timeout=60)

        async def exported() -> bool:
            return any(
                path == "/v1/traces" and bytes.fromhex(trace_id) in body
                for path, body in _Collector.received
            )

        await eventually(exported, timeout=30, message="no span with the trace id exported")
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
