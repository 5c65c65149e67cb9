"""Answers an invalidation dropped, fetched again at once instead of on the next request.

A stock change drops the product's page and every listing that shows it (about 30 answers in
the bench's shop), and each of them used to be fetched again by the next shopper who asked,
as a miss. When the catalog announces a change (or a write through the gateway makes one),
each process fetches again, in the background, the answers it held in memory of what was
dropped: answers it served within their TTL. The next shopper gets a hit with the new
content. Nothing stale is served meanwhile: the drop happens first, as before, and a request
that comes before the fetch lands waits for that same fetch (the response cache's single
flight), as a miss.

The fetch is stored under the invalidation's number (``answers.Dropped.seq``): one that
overlaps a later invalidation of the same families is not stored, exactly as a shopper's
miss would not be. At most ``at_once`` fetches run at a time and at most ``most`` per
invalidation (a change of every listing drops them all); what is left over is fetched by the
next request that asks, as before. Every gateway process holding a dropped answer fetches it
once, so a change costs one catalog call per process and answer: about what the misses cost.

The same goes for expiry (``ahead``): an answer asked for in its last seconds in this
process (``LocalAnswers.ahead_seconds``) is fetched again in the background, once, so
an answer shoppers keep asking for never expires into a miss (and a crowd that filled a
cold cache does not meet a wave of misses a TTL later). Redis is asked first: when
another replica has replaced it already, that copy is kept instead of calling the
catalog. The fetch is stored under the invalidation counter read with that ask, as a
shopper's miss is: one that overlaps an invalidation of its families is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import aiohttp

from emporium.gateway.front import Ask, Front
from emporium.gateway.headers import request_headers
from emporium.gateway.response_cache import ResponseCache, families_of
from emporium.gateway.routes import Route, match
from emporium.gateway.target import BadTarget, Target, parse_target
from emporium.gateway.upstreams import Upstreams

__all__ = ["AnswerRefresher"]

log = logging.getLogger(__name__)


class AnswerRefresher:
    """Fetches again the answers ``cache`` dropped from this process (``ResponseCache.refresh``)."""

    def __init__(
        self,
        cache: ResponseCache,
        upstreams: Upstreams,
        front: Front,
        *,
        at_once: int = 8,
        most: int = 256,
    ) -> None:
        self.cache = cache
        self.upstreams = upstreams
        self.front = front
        self.most = most
        self._gate = asyncio.Semaphore(at_once)
        self._tasks: set[asyncio.Task[None]] = set()
        # Raw targets fetched before they expire, and until when they are not tried again
        # (an answer that was not stored, such as a 404, is not fetched on every hit).
        self._ahead: dict[bytes, float] = {}

    def __call__(self, targets: list[bytes], seq: int, generation: int) -> None:
        """Fetch again the answers of ``targets`` (raw request targets), dropped by the
        invalidation numbered ``seq`` that left the local copies at ``generation``."""
        # Product pages (no query) first: the answer whose freshness a shopper checks.
        targets = sorted(targets, key=lambda raw: not raw.endswith(b"?"))[: self.most]
        task = asyncio.create_task(self._refresh(targets, seq, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ahead(self, raw: bytes) -> None:
        """Fetch again, once, the local answer of ``raw`` that was asked for in its last
        seconds (``LocalAnswers.expiring``); at most ``most`` at a time, the rest expire."""
        local = self.cache.local
        now = time.monotonic()
        if local is None or self._ahead.get(raw, 0.0) > now:
            return
        if len(self._ahead) >= self.most:
            self._ahead = {key: until for key, until in self._ahead.items() if until > now}
            if len(self._ahead) >= self.most:
                return
        self._ahead[raw] = now + local.ahead_seconds
        task = asyncio.create_task(self._refresh_ahead(raw, local.generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_ahead(self, raw: bytes, generation: int) -> None:
        answer = self._answer_of(raw)
        local = self.cache.local
        if answer is None or local is None:
            return
        async with self._gate:
            stored = await self.front.ask(Ask(entry_key=answer.key))
            if stored.entry is not None and stored.entry_seconds > local.ahead_seconds:
                # Another replica replaced it already: keep its copy.
                expires = time.monotonic() + stored.entry_seconds
                self.cache.keep(raw, stored.entry, answer.families, expires, generation)
                return
            try:
                await self._fill(answer, stored.seq, raw, generation)
            except Exception as error:  # a 503, a timeout: it expires, the next one misses
                log.info("answer %r not fetched before it expires: %r", raw, error)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until every fetch started so far has landed (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _refresh(self, targets: list[bytes], seq: int, generation: int) -> None:
        keys: set[str] = set()
        failed = 0

        async def one(raw: bytes) -> None:
            nonlocal failed
            answer = self._answer_of(raw)
            if answer is None or answer.key in keys:
                return  # not a cached route, or another spelling of the same answer
            keys.add(answer.key)
            async with self._gate:
                try:
                    await self._fill(answer, seq, raw, generation)
                except Exception:  # a 503, a timeout: the next request asks, as before
                    failed += 1

        await asyncio.gather(*(one(raw) for raw in targets))
        if failed:
            log.info("%d of %d dropped answers not fetched again", failed, len(keys))

    def _answer_of(self, raw: bytes) -> _Answer | None:
        """The stored answer a local answer's raw target stands for, if it is cached."""
        found = _cacheable(raw)
        if found is None:
            return None
        public, route = found
        path, query = public.encoded_path(), public.encoded_query()
        key = self.cache.key(path + "?" + query if query else path)
        return _Answer(key, families_of(public.segments), route, path, query)

    async def _fill(self, answer: _Answer, seq: int, raw: bytes, generation: int) -> None:
        """Fetch ``answer`` (joining a shopper's fetch of it, if one is under way) and store
        it under ``seq``, its local copy under ``raw`` unless dropped since ``generation``."""
        await self.cache.miss(
            answer.key,
            answer.families,
            seq,
            None,
            lambda: self._fetch(answer.route, answer.path, answer.query),
            raw,
            generation,
        )

    async def _fetch(self, route: Route, path: str, query: str) -> aiohttp.ClientResponse:
        upstream = self.upstreams[route.upstream]
        headers = request_headers(
            [], client_ip=None, scheme="http", host=None, request_id=None, trace={}
        )
        return await upstream.send("GET", path, headers, query=query, small=True)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A cached answer to fetch again: its storage key and families, and where it is asked."""

    key: str
    families: tuple[str, ...]
    route: Route
    path: str
    query: str


def _cacheable(raw: bytes) -> tuple[Target, Route] | None:
    """The public target and route of a local answer's raw target, if it is a cached route."""
    path, _, query = raw.partition(b"?")
    try:
        target = parse_target(path, query)
    except BadTarget:
        return None
    if not target.starts_with("api", "v1"):
        return None
    public = Target(target.segments[2:], target.query)
    route = match(public.path, "GET")
    if route is None or not route.cache:
        return None
    return public, route
