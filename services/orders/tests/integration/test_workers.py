"""``ORDERS_WORKERS=3``: three HTTP worker processes, the background loops in one of them.

The real service as a process (``python -m emporium.orders serve --migrate``) on PostgreSQL
and Kafka: the supervisor starts three children that all answer on the one port; the
background loops run once, which PostgreSQL shows (one relay and one payment-worker
``LISTEN`` connection to the service's database, whatever the number of HTTP workers); every
child's ``/healthz`` and ``/readyz`` are 200; and when the child running the loops is
SIGKILLed, the supervisor starts it again and the loops are back, still once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from emporium.kit.listen import asyncpg_dsn
from emporium.kit.testing import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
WORKERS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


class Served:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, db: str) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.database_name = db

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def leader(self) -> int:
        """The pid of HTTP worker 0 (the supervisor says so on stderr)."""
        text = self.log.read_text(errors="replace")
        found = re.findall(r"HTTP worker 0 \(leader\) started, pid (\d+)", text)
        assert found, self.tail()
        return int(found[-1])

    def http_children(self) -> list[int]:
        """The HTTP worker processes (the spawn machinery's helper process aside)."""
        return [
            pid
            for pid in _children(self.process.pid)
            if "multiprocessing.resource_tracker" not in _cmdline(pid)
        ]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
async def served(
    postgres_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> AsyncIterator[Served]:
    port = _free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERS_", "WEB_"))}
    env = keep | {
        "ORDERS_WORKERS": str(WORKERS),
        "ORDERS_PORT": str(port),
        "ORDERS_DATABASE_URL": postgres_url,
        "ORDERS_BUS": "kafka",
        "ORDERS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ORDERS_TOPIC_PREFIX": f"{unique}.",
        "ORDERS_SERVICE_NAME": unique[:40],
        "ORDERS_LOG_JSON": "false",
        "ORDERS_JWKS_URL": "http://127.0.0.1:9/none",
    }
    log = tmp_path / "orders.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "emporium.orders", "serve", "--migrate"],
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    database = make_url(postgres_url).database or ""
    try:
        yield Served(process, port, log, database)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def _listeners(postgres_url: str, database: str) -> list[str]:
    """``application_name`` of each LISTEN connection of the background loops."""
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        rows = await connection.fetch(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name LIKE 'emporium-%listen%'",
            database,
        )
    finally:
        await connection.close()
    return sorted(row["application_name"] for row in rows)


async def _all_answer(served: Served) -> None:
    """Enough requests that every child answers some (a new connection each): all 200."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for path in ("/healthz", "/readyz"):
            for _ in range(15):
                answer = await client.get(served.url + path, timeout=10)
                assert answer.status_code == 200, answer.text


async def test_three_http_workers_and_the_background_loops_once(
    served: Served, postgres_url: str
) -> None:
    async def ready() -> bool:
        assert served.process.poll() is None, served.tail()
        async with httpx.AsyncClient() as client:
            try:
                status = (await client.get(served.url + "/readyz")).status_code
            except httpx.HTTPError as error:
                raise AssertionError(f"not answering yet: {error!r}") from error
        assert status == 200
        assert len(served.http_children()) == WORKERS, served.tail()
        listeners = await _listeners(postgres_url, served.database_name)
        assert len(listeners) == 2, listeners
        return True

    await eventually(ready, timeout=90)
    before = await _listeners(postgres_url, served.database_name)
    assert before[0] == "emporium-payments-listen"
    assert before[1].startswith("emporium-relay-listen-")
    await _all_answer(served)

    # The child running the loops dies: it is started again, and the loops with it, once.
    leader = served.leader()
    os.kill(leader, signal.SIGKILL)

    async def back() -> bool:
        children = served.http_children()
        assert leader not in children
        assert len(children) == WORKERS, children
        assert await _listeners(postgres_url, served.database_name) == before
        return True

    await eventually(back, timeout=90)
    await asyncio.sleep(2)  # a second round of loops would have connected by now
    assert await _listeners(postgres_url, served.database_name) == before
    await _all_answer(served)
