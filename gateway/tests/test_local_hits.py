"""Hits kept in the gateway process: served without asking Redis, still limited, dropped
on every replica by an announcement, bounded, and failing open when Redis goes away.

Redis is the real one, reached through ``RedisTap``: a plain TCP relay that counts the
commands the gateway sends and can cut the line (Redis itself is shared: never stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from yarl import URL

from emporium.gateway.invalidation import stale_channel
from emporium.gateway.local_answers import LocalAnswers
from emporium.gateway.proxy import Gateway
from emporium.gateway.refresh import AnswerRefresher
from emporium.gateway.response_cache import ready_of
from emporium.gateway.settings import Settings
from emporium.gateway.testing import GatewayFactory, Running
from emporium.kit.testing.polling import eventually


class RedisTap:
    """Relays TCP to Redis, noting each command (name and arguments); ``cut`` drops and
    refuses."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.commands: list[list[bytes]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, tap: bool) -> None:
            buffer = b""
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    if tap:
                        buffer = self._note(buffer + data)
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(
            pump(reader, up_writer, True), pump(up_reader, writer, False), return_exceptions=True
        )
        self._writers -= {writer, up_writer}

    def _note(self, buffer: bytes) -> bytes:
        # RESP arrays of bulk strings: *<n>\r\n then $<len>\r\n<bytes>\r\n, n times.
        while True:
            parsed = _command(buffer)
            if parsed is None:
                return buffer
            command, buffer = parsed
            self.commands.append(command)

    def asked_per_request(self) -> list[list[bytes]]:
        """The commands but the rate-limit flush's: one script call per interval for every
        window (``batched_limits``), not one per request, due whenever its timer fires (a
        loaded machine can stretch a test past the interval). Its script is loaded once;
        a request path that loaded one would also run it on a key of its own, seen here."""
        return [
            command
            for command in self.commands
            if not (command[0].upper() == b"SCRIPT" or _is_flush(command))
        ]


def _is_flush(command: list[bytes]) -> bool:
    if command[0].upper() != b"EVALSHA":
        return False
    keys = command[3 : 3 + int(command[2])]
    return bool(keys) and all(b":api:ip:" in key for key in keys)


def _command(buffer: bytes) -> tuple[list[bytes], bytes] | None:
    head, sep, rest = buffer.partition(b"\r\n")
    if not sep:
        return None
    args: list[bytes] = []
    for _ in range(int(head[1:])):
        size, sep, rest = rest.partition(b"\r\n")
        if not sep or len(rest) < int(size[1:]) + 2:
            return None
        args.append(rest[: int(size[1:])])
        rest = rest[int(size[1:]) + 2 :]
    return args, rest


@pytest.fixture
async def tap(redis_url: str) -> AsyncIterator[RedisTap]:
    url = URL(redis_url)
    running = RedisTap(url.host or "127.0.0.1", url.port or 6379)
    await running.start()
    yield running
    with contextlib.suppress(AssertionError):
        await running.cut()


def _through(tap: RedisTap, redis_url: str) -> str:
    return str(URL(redis_url).with_port(tap.port))


async def _replicas(gateway: GatewayFactory, settings: dict[str, Any]) -> list[Running]:
    """Two gateways on one Redis namespace in front of one catalog."""
    first = await gateway(**settings)
    catalog = first.resources.settings
    assert isinstance(catalog, Settings)
    return [first, await gateway(**settings, catalog_url=catalog.catalog_url)]


def _kept(gw: Running, path: str) -> bool:
    cache = gw.resources.get(Gateway).response_cache
    assert cache is not None
    assert cache.local is not None
    return cache.local.get(path.encode() + b"?", time.monotonic()) is not None


async def _x_cache(gw: Running, path: str) -> str:
    return (await gw.client.get(path)).headers["x-cache"]


async def test_a_hit_kept_in_the_process_asks_redis_nothing_and_still_counts(
    gateway: GatewayFactory, tap: RedisTap, redis_url: str, unique: str
) -> None:
    gw = await gateway(
        redis_url=_through(tap, redis_url),
        cache_namespace=unique,
        response_cache_seconds=300,
        rate_limit_anonymous=25,
        rate_limit_flush_seconds=5,  # no flush while the hits below are counted
    )
    await gw.subscribed()
    path = f"/api/v1/products/{uuid.uuid4()}"
    assert await _x_cache(gw, path) == "MISS"
    upstream_calls = gw.services["catalog"].hits
    tap.commands.clear()
    remaining = []
    for _ in range(20):
        answer = await gw.client.get(path)
        assert answer.status_code == 200
        assert answer.headers["x-cache"] == "HIT"
        remaining.append(int(answer.headers["ratelimit-remaining"]))
    assert tap.asked_per_request() == []  # not one Redis command for twenty hits
    assert gw.services["catalog"].hits == upstream_calls
    assert remaining == list(range(23, 3, -1))  # the window counts every one of them
    # Past the limit, refused as before, with the same problem and headers.
    for _ in range(4):
        assert (await gw.client.get(path)).status_code == 200
    limited = await gw.client.get(path)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 0 < int(limited.headers["retry-after"]) <= 60


async def test_the_limit_holds_across_two_replicas_on_one_redis(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    limit, interval = 30, 0.05
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "cache_namespace": unique,
        "rate_limit_anonymous": limit,
        "rate_limit_flush_seconds": interval,
        "response_cache_seconds": 300,
    }
    replicas = await _replicas(gateway, settings)
    for gw in replicas:
        await gw.subscribed()
    allowed = 0
    sent = 0
    # One caller, spread over both replicas, each getting about one request per interval:
    # the documented overshoot is then (replicas - 1) x 1, a few at most with the timing.
    for _ in range(limit):
        for gw in replicas:
            answer = await gw.client.get("/api/v1/categories")
            sent += 1
            allowed += answer.status_code == 200
            assert answer.status_code in (200, 429)
        await asyncio.sleep(interval)
    assert limit <= allowed <= limit + 4
    # Every request was counted in Redis, refused ones included.
    key = f"{unique}:ratelimit:api:ip:127.0.0.1"
    client = Redis.from_url(redis_url)
    try:

        async def all_counted() -> bool:
            return int(await client.get(key) or 0) == sent

        await eventually(all_counted, timeout=5)
        assert 0 < await client.pttl(key) <= 60_000
    finally:
        await client.aclose()


async def test_an_announcement_drops_the_copy_on_every_replica_within_a_second(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "cache_namespace": unique,
        "response_cache_seconds": 300,
    }
    replicas = await _replicas(gateway, settings)
    changed, other = uuid.uuid4(), uuid.uuid4()
    paths = [f"/api/v1/products/{changed}", f"/api/v1/products/{other}"]
    seen: dict[str, int] = {}
    for gw in replicas:
        await gw.subscribed()
        for path in paths:
            await gw.client.get(path)
            answer = await gw.client.get(path)
            assert answer.headers["x-cache"] == "HIT"
            seen[path] = answer.json()["hits"]
    client = Redis.from_url(redis_url)
    try:
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        began = time.monotonic()
        await client.publish(stale_channel(db), f'["product:{changed}"]')
        # Both serve the product's new answer: a replica drops its own copy first and
        # Redis's a moment later, so the first asks after the drop may still find the old.
        for gw in replicas:

            async def fresh(gw: Running = gw) -> bool:
                return bool((await gw.client.get(paths[0])).json()["hits"] > seen[paths[0]])

            await eventually(fresh, timeout=5, interval=0.01)
        assert time.monotonic() - began < 1.0
    finally:
        await client.aclose()
    # The other product's answer is the one they kept, in the process.
    for gw in replicas:
        assert _kept(gw, paths[1])
        answer = await gw.client.get(paths[1])
        assert answer.headers["x-cache"] == "HIT"
        assert answer.json()["hits"] == seen[paths[1]]


async def test_a_catalog_write_through_the_gateway_drops_the_copy(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    gw = await gateway(redis_url=redis_url, cache_namespace=unique, response_cache_seconds=300)
    await gw.subscribed()
    product = uuid.uuid4()
    path = f"/api/v1/products/{product}"
    await gw.client.get(path)
    assert await _x_cache(gw, path) == "HIT"
    written = await gw.client.patch(
        f"/api/v1/admin/products/{product}", json={"name": "x"}, headers=gw.bearer("admin")
    )
    assert written.status_code == 200
    assert await _x_cache(gw, path) == "MISS"


async def test_redis_away_fails_open_and_the_cache_comes_back(
    gateway: GatewayFactory, tap: RedisTap, redis_url: str, unique: str
) -> None:
    gw = await gateway(
        redis_url=_through(tap, redis_url),
        cache_namespace=unique,
        response_cache_seconds=300,
        rate_limit_anonymous=1000,
    )
    await gw.subscribed()
    path = f"/api/v1/products/{uuid.uuid4()}"
    await gw.client.get(path)
    assert await _x_cache(gw, path) == "HIT"
    await tap.cut()

    async def open_without_limits() -> bool:
        answer = await gw.client.get(path)
        assert answer.status_code == 200
        return "ratelimit-limit" not in answer.headers and answer.headers["x-cache"] == "MISS"

    await eventually(open_without_limits, timeout=10)
    await tap.start()  # the same port: Redis is back

    async def cached_and_limited_again() -> bool:
        answer = await gw.client.get(path)
        return answer.headers["x-cache"] == "HIT" and "ratelimit-limit" in answer.headers

    await eventually(cached_and_limited_again, timeout=20, interval=0.2)


def _ready(body: bytes, family: str) -> tuple[bytes, tuple[str, ...]]:
    entry = b'content-type:application/json\netag:"x"\n\n' + body
    return entry, (family,)


def test_the_copies_stay_within_their_bounds_and_an_old_read_is_not_kept() -> None:
    local = LocalAnswers(max_entries=3, max_bytes=2_000)
    local.enabled = True
    now = time.monotonic()
    for i in range(5):
        entry, families = _ready(b"x" * 100, f"product:{i}")
        assert local.put(
            f"/products/{i}".encode(), ready_of(entry, families, now + 60), local.generation
        )
    assert len(local) == 3
    assert local.get(b"/products/0", now) is None  # the oldest went first
    assert local.get(b"/products/4", now) is not None
    big, families = _ready(b"y" * 900, "listing")
    for i in range(3):
        assert local.put(f"/big/{i}".encode(), ready_of(big, families, now + 60), local.generation)
    assert local.bytes <= 2_000
    assert len(local) == 2
    entry, families = _ready(b"z" * 3_000, "listing")
    assert not local.put(b"/huge", ready_of(entry, families, now + 60), local.generation)
    # Read before a drop, offered after it: refused (it may predate the change).
    read_at = local.generation
    local.drop(["product:9"])
    entry, families = _ready(b"old", "product:9")
    assert not local.put(b"/products/9", ready_of(entry, families, now + 60), read_at)
    assert local.get(b"/big/2", now + 61) is None  # expired with its Redis copy


@pytest.mark.parametrize("ahead", [1.0, 0.0], ids=["refreshed-ahead", "left-to-expire"])
async def test_an_answer_asked_in_its_last_seconds_is_fetched_again_before_it_expires(
    gateway: GatewayFactory, redis_url: str, unique: str, ahead: float
) -> None:
    gw = await gateway(
        redis_url=redis_url,
        cache_namespace=unique,
        response_cache_seconds=4,  # each answer lives 3.6-4 s
        response_refresh=True,
        response_refresh_ahead_seconds=ahead,
    )
    await gw.subscribed()
    path = f"/api/v1/products/{uuid.uuid4()}"
    assert await _x_cache(gw, path) == "MISS"
    seen = []
    began = time.monotonic()
    while time.monotonic() - began < 10:  # past two lifetimes of the first answer
        answer = await gw.client.get(path)
        assert answer.status_code == 200
        seen.append((answer.headers["x-cache"], answer.json()["hits"]))
        await asyncio.sleep(0.05)
    misses = [hit for cache, hit in seen if cache == "MISS"]
    fetched = {hit for _, hit in seen}
    if ahead:
        # Every shopper got a hit, and the content moved on: fetched again in the background
        # about once a lifetime, not on every hit of its last second.
        assert misses == []
        assert 3 <= len(fetched) <= 5
        assert gw.services["catalog"].hits <= 6
    else:
        assert len(misses) >= 2  # each expiry is a shopper's miss


async def test_an_answer_another_replica_fetched_ahead_is_taken_from_redis(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "cache_namespace": unique,
        "response_cache_seconds": 4,
        "response_refresh": True,
        "response_refresh_ahead_seconds": 1.0,
    }
    first, second = await _replicas(gateway, settings)
    for gw in (first, second):
        await gw.subscribed()
    path = f"/api/v1/products/{uuid.uuid4()}"
    assert await _x_cache(first, path) == "MISS"
    assert await _x_cache(second, path) == "HIT"  # Redis's copy, kept in the second too
    calls = first.services["catalog"].hits
    # The first replica is asked in the answer's last second: it fetches ahead and stores.
    await asyncio.sleep(3.2)
    assert await _x_cache(first, path) == "HIT"
    refresher = first.resources.get(AnswerRefresher)
    await refresher.idle()
    assert first.services["catalog"].hits == calls + 1
    # The second, asked in its own copy's last second, finds Redis's new copy: no call.
    answer = await second.client.get(path)
    assert answer.headers["x-cache"] == "HIT"
    await second.resources.get(AnswerRefresher).idle()
    assert first.services["catalog"].hits == calls + 1
    await asyncio.sleep(1.0)  # past the first answer's life
    answer = await second.client.get(path)
    assert answer.headers["x-cache"] == "HIT"
    assert answer.json()["hits"] == calls + 1


async def test_answers_stored_in_one_burst_expire_spread_over_a_tenth_of_the_ttl(
    gateway: GatewayFactory, redis_url: str, unique: str
) -> None:
    gw = await gateway(redis_url=redis_url, cache_namespace=unique, response_cache_seconds=300)
    await gw.subscribed()
    paths = [f"/api/v1/products/{uuid.uuid4()}" for _ in range(40)]
    began = time.monotonic()
    for path in paths:
        assert await _x_cache(gw, path) == "MISS"
    lives = []
    cache = gw.resources.get(Gateway).response_cache
    assert cache is not None
    assert cache.local is not None
    for path in paths:
        ready = cache.local.get(path.encode() + b"?", time.monotonic())
        assert ready is not None
        lives.append(ready.expires - began)
    assert all(270 - 1 <= life <= 300 + 1 for life in lives)
    assert max(lives) - min(lives) > 10  # not one second for all of them
