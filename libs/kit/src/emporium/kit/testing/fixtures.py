"""Pytest fixtures that hand each test a piece of the real infrastructure.

``make test`` starts PostgreSQL, Kafka, Redis and SeaweedFS (``deploy/local/infra.sh``),
exports their addresses (``var/infra.env``) and sets ``EMPORIUM_REQUIRE_INFRA=1``: then a
missing piece fails the test. Without that variable (a quick ``pytest`` on a laptop),
tests that need infrastructure are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

__all__ = [
    "kafka_bootstrap",
    "postgres_url",
    "redis_url",
    "s3_endpoint",
    "unique",
]


def _require(variable: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    message = f"{variable} is not set: start the infrastructure with `make up` or run `make test`"
    if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
        pytest.fail(message)
    pytest.skip(message)


#: The ``unique`` names handed out in this module, whose Kafka topics go at its end.
_ISSUED: set[str] = set()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A short name unique to this test, for topics, groups, buckets and key prefixes."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30]
    name = f"t-{stem}-{uuid.uuid4().hex[:8]}"
    _ISSUED.add(name)
    return name


@pytest.fixture(scope="module", autouse=True)
def _delete_unique_topics() -> Iterator[None]:
    """At the end of each test module, delete the Kafka topics named after its ``unique``s.

    Every Kafka client asks for the metadata of all the cluster's topics when it starts;
    thousands of leftover test topics made each start cost ~0.1 s of CPU, and the run slowed
    as it went. Only this module's names go: suites running beside it keep theirs.
    """
    yield
    issued = set(_ISSUED)
    _ISSUED.clear()
    bootstrap = os.environ.get("EMPORIUM_KAFKA_BOOTSTRAP")
    if issued and bootstrap:
        # A thread of its own: asyncio.run here would unset this thread's event loop under
        # pytest-asyncio.
        worker = threading.Thread(target=asyncio.run, args=(_delete_topics_of(bootstrap, issued),))
        worker.start()
        worker.join()


async def _delete_topics_of(bootstrap: str, names: set[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        await admin.start()
        # Anywhere in the name: some tests put a prefix of their own before it.
        doomed = [t for t in await admin.list_topics() if any(name in t for name in names)]
        for start in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[start : start + 200], timeout_ms=30_000)
    except (KafkaError, OSError, TimeoutError):
        pass  # a broker that is down (a test stopped it) keeps them: tidying, not testing
    finally:
        await admin.close()


@pytest.fixture
def kafka_bootstrap() -> str:
    """Bootstrap servers of the real Kafka broker."""
    return _require("EMPORIUM_KAFKA_BOOTSTRAP")


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis server."""
    return _require("EMPORIUM_REDIS_URL")


@pytest.fixture
def s3_endpoint() -> str:
    """Endpoint of the real S3 server; credentials are in AWS_ACCESS_KEY_ID/SECRET."""
    return _require("EMPORIUM_S3_ENDPOINT")


@pytest.fixture
async def postgres_url(unique: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test (asyncpg URL), dropped after."""
    import asyncpg

    admin_url = _require("EMPORIUM_POSTGRES_URL")
    name = unique.replace("-", "_")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = admin_url.rpartition("/")
    yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """A fresh SQLite database file for this test (``sqlite+aiosqlite://``)."""
    return f"sqlite+aiosqlite:///{os.fspath(tmp_path)}/test.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on the embedded SQLite and on real PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    value: str = request.getfixturevalue(name)
    return value
