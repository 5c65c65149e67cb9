"""A Redis that is down never fails a request, and the cache comes back with it."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from emporium.kit.cache import Cache, RedisCache, get_or_compute
from emporium.kit.metrics import REGISTRY
from emporium.kit.testing import eventually

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def errors(cache: Cache) -> float:
    labels = {"cache": cache.namespace}
    return REGISTRY.get_sample_value("emporium_cache_errors_total", labels) or 0.0


def requests(cache: Cache, result: str) -> float:
    labels = {"cache": cache.namespace, "result": result}
    return REGISTRY.get_sample_value("emporium_cache_requests_total", labels) or 0.0


class RedisProcess:
    """A redis-server of our own on a free port, without persistence, that we can stop."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._process = process
        client = Redis.from_url(self.url)

        async def answers() -> bool:
            assert process.poll() is None, "redis-server exited"
            try:
                return bool(await client.ping())
            except RedisError:  # not accepting connections yet
                return False

        try:
            await eventually(answers, timeout=15, message="redis-server did not start")
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=15)
        self._process = None


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A redis-server this test starts and stops itself (stopped at the end in any case)."""
    if not os.path.exists(REDIS_SERVER):
        message = f"{REDIS_SERVER} is not installed (deploy/local/infra.sh installs it)"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisProcess()
    yield server
    server.stop()


@pytest.fixture
async def dead_cache(unique: str) -> AsyncIterator[RedisCache]:
    """A cache whose Redis is not there."""
    cache = RedisCache(NOWHERE, unique)
    yield cache
    await cache.close()


async def test_without_redis_reads_miss_and_writes_are_skipped(dead_cache: RedisCache) -> None:
    before = errors(dead_cache)

    await dead_cache.set("k", b"v")
    await dead_cache.delete("k")
    assert await dead_cache.get("k") is None

    assert errors(dead_cache) >= before + 1
    assert requests(dead_cache, "bypass") == 1
    assert not dead_cache.available
    assert not await dead_cache.ping()


async def test_without_redis_versioned_keys_and_locks_still_work(dead_cache: RedisCache) -> None:
    await dead_cache.bump("products")
    assert (await dead_cache.versioned("products", "page=1")).startswith("products:")
    token = await dead_cache.lock("job", ttl=5)
    assert token is not None  # nobody to coordinate with: go ahead
    await dead_cache.unlock("job", token)


async def test_without_redis_get_or_compute_computes_once_per_process(
    dead_cache: RedisCache,
) -> None:
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # a slow computation, so the callers overlap
        return b"computed"

    results = await asyncio.gather(*(get_or_compute(dead_cache, "k", compute) for _ in range(20)))
    assert results == [b"computed"] * 20
    assert calls == 1


async def test_failures_are_counted_each_time_but_logged_once(
    unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(NOWHERE, unique, cooldown=0)  # no cooldown: every call tries Redis
    try:
        before = errors(cache)
        with caplog.at_level(logging.WARNING, logger="emporium.kit.cache"):
            for _ in range(20):
                assert await cache.get("k") is None
        assert errors(cache) == before + 20
        warnings = [r for r in caplog.records if r.name == "emporium.kit.cache"]
        assert len(warnings) == 1
        assert unique in warnings[0].getMessage()
    finally:
        await cache.close()


async def test_the_cache_recovers_when_redis_comes_back(
    redis_process: RedisProcess, unique: str
) -> None:
    await redis_process.start()
    cache = RedisCache(redis_process.url, unique)
    try:
        await cache.set("k", b"before")
        assert await cache.get("k") == b"before"

        redis_process.stop()
        before = errors(cache)
        assert await cache.get("k") is None
        await cache.set("k", b"during")  # no error, just not stored
        assert errors(cache) > before
        assert not await cache.ping()

        await redis_process.start()  # same port, same client, no restart of ours

        async def works_again() -> bool:
            await cache.set("k", b"after")
            return await cache.get("k") == b"after"

        await eventually(works_again, timeout=15)
        assert await cache.ping()
        assert cache.available
    finally:
        await cache.close()
