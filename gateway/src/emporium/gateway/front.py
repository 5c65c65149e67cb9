"""What a request needs from Redis before anything else, in one round trip.

A request's rate-limit window is counted, its cached answer looked up (anonymous cacheable
GETs) and its token's revocation checked (a token verified before, from the in-process
token cache) by one Lua script: one Redis round trip per request instead of three or four.
On a miss the script also returns the cache's invalidation counter, which the answer is
stored against (``answers.py``: an answer fetched before an invalidation is not stored).

The asks of every request that reaches this point in the same turn of the event loop go in
one call of the script (up to ``BATCH`` asks; each answered as if alone, in the order they
came): one command, one pooled connection and two system calls for all of them. Asked one
call each, 5,000 shoppers kept every one of the pool's 100 connections busy for the loop's
lag (each held until its reply was read), and the requests that found none went without
the cache, their misses overflowing the catalog's line.

Fails open like the rate limiter and the cache always did: when Redis does not answer, the
request goes on without a limit, without the cache and without the revocation check
(tokens are short-lived); Redis is then left alone for ``cooldown`` seconds, and that is
logged at most once per ``LOG_EVERY`` seconds (``outage.py``, shared with the batched
anonymous limits). Without Redis (the embedded default, one process) ``MemoryFront`` does
the same in memory.

A found answer comes with its remaining TTL, so the in-process copy kept of it
(``local_answers.py``) does not outlive it. Anonymous windows are not counted here when
the gateway batches them (``batched_limits.py``): such a request asks for no window.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from emporium.gateway.answers import MemoryAnswers
from emporium.gateway.outage import Outage
from emporium.gateway.ratelimit import Decision, MemoryRateLimiter, decide
from emporium.kit.auth.verifier import Denylist

__all__ = ["BATCH", "Ask", "Front", "FrontAnswer", "MemoryFront", "RedisFront"]

#: Most asks in one call of the script (Redis runs nothing else while a script runs).
BATCH = 256

# KEYS[1]: the invalidation counter; then per ask i (from 0) its window's, its answer's and
# its revocation marker's keys ('' when not asked), ARGV[i + 1] its window in ms. Six
# values per ask come back, in order.
_SCRIPT = """
local out = {}
for i = 0, #ARGV - 1 do
    local limit_key, entry_key, revoked_key = KEYS[2 + 3 * i], KEYS[3 + 3 * i], KEYS[4 + 3 * i]
    local count, ttl = 0, 0
    if limit_key ~= '' then
        count = redis.call('INCR', limit_key)
        ttl = redis.call('PTTL', limit_key)
        if ttl < 0 then
            redis.call('PEXPIRE', limit_key, ARGV[i + 1])
            ttl = tonumber(ARGV[i + 1])
        end
    end
    local entry = false
    local seq = false
    local entry_ttl = 0
    if entry_key ~= '' then
        entry = redis.call('GET', entry_key)
        if entry then entry_ttl = redis.call('PTTL', entry_key) end
        seq = redis.call('GET', KEYS[1])
    end
    local revoked = 0
    if revoked_key ~= '' then revoked = redis.call('EXISTS', revoked_key) end
    local at = 6 * i
    out[at + 1], out[at + 2], out[at + 3] = count, ttl, entry
    out[at + 4], out[at + 5], out[at + 6] = revoked, seq, entry_ttl
end
return out
"""

_Waiting = tuple[tuple[str, str, str], int, "asyncio.Future[list[Any]]"]


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request asks: a rate-limit window, a cached answer, a token's revocation."""

    limit_key: str | None = None
    limit: int = 0
    window: int = 60
    entry_key: str | None = None
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class FrontAnswer:
    """``decision`` None: not limited (or unknown); ``seq``: the invalidation counter when
    an entry was asked (what a fetch of it is stored under); ``entry_seconds``: how long
    a found ``entry`` still lives."""

    decision: Decision | None
    entry: bytes | None
    revoked: bool
    seq: int
    entry_seconds: float = 0.0


_NOTHING = FrontAnswer(None, None, False, 0)


class Front(Protocol):
    outage: Outage

    async def ask(self, ask: Ask) -> FrontAnswer: ...


class RedisFront:
    """The one script, on the gateway's Redis; ``revoked_key`` names a token id's marker."""

    def __init__(
        self,
        client: Redis,
        *,
        limit_prefix: str,
        seq_key: str,
        revoked_key: Any,
        outage: Outage | None = None,
    ) -> None:
        self._client = client
        self._limit_prefix = limit_prefix
        self._seq_key = seq_key
        self._revoked_key = revoked_key
        self._sha: str | None = None
        self.outage = outage or Outage()
        self._waiting: list[_Waiting] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def ask(self, ask: Ask) -> FrontAnswer:
        now = time.monotonic()
        if self.outage.down(now):
            return _NOTHING
        keys = (
            self._limit_prefix + ask.limit_key if ask.limit_key else "",
            ask.entry_key or "",
            self._revoked_key(ask.token_id) if ask.token_id else "",
        )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()
        if not self._waiting:
            # After every callback ready now: the asks of this turn go together.
            loop.call_soon(self._send)
        self._waiting.append((keys, ask.window * 1000, answer))
        try:
            count, ttl_ms, entry, revoked, seq, entry_ms = await answer
        except (TimeoutError, RedisError, OSError) as error:
            self.outage.failed(now, error)
            return _NOTHING
        decision = decide(int(count), ask.limit, int(ttl_ms) / 1000) if ask.limit_key else None
        return FrontAnswer(decision, entry, bool(revoked), int(seq or 0), int(entry_ms) / 1000)

    def _send(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), BATCH):
            task = asyncio.create_task(self._answer(waiting[start : start + BATCH]))
            self._tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, batch: list[_Waiting]) -> None:
        keys = [self._seq_key]
        for ask_keys, _, _ in batch:
            keys += ask_keys
        try:
            found = await self._run(keys, [window_ms for _, window_ms, _ in batch])
        except BaseException as error:  # each ask fails open; at shutdown none is left hanging
            for _, _, answer in batch:
                if not answer.done():  # its request may have been cancelled (client gone)
                    answer.set_exception(error)
            if isinstance(error, (TimeoutError, RedisError, OSError)):
                return
            raise
        for i, (_, _, answer) in enumerate(batch):
            if not answer.done():
                answer.set_result(found[6 * i : 6 * i + 6])

    async def _run(self, keys: list[str], windows_ms: list[int]) -> list[Any]:
        # ``execute_command`` directly: redis-py's Script wrapper costs as much CPU again.
        if self._sha is None:
            self._sha = str(await self._client.script_load(_SCRIPT))
        try:
            result: list[Any] = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._sha, len(keys), *keys, *windows_ms
            )
        except NoScriptError:  # Redis restarted (scripts are not persisted): load again
            self._sha = None
            return await self._run(keys, windows_ms)
        return result


class MemoryFront:
    """The same in this process's memory (the embedded default runs one gateway process)."""

    def __init__(
        self,
        limiter: MemoryRateLimiter | None,
        answers: MemoryAnswers | None,
        denylist: Denylist | None,
    ) -> None:
        self._limiter = limiter
        self._answers = answers
        self._denylist = denylist
        self.outage = Outage()  # never down: nothing remote

    async def ask(self, ask: Ask) -> FrontAnswer:
        decision = None
        if ask.limit_key and self._limiter is not None:
            decision = await self._limiter.hit(ask.limit_key, limit=ask.limit, window=ask.window)
        entry, seq = None, 0
        if ask.entry_key and self._answers is not None:
            entry = self._answers.get(ask.entry_key)
            seq = self._answers.seq
        revoked = False
        if ask.token_id and self._denylist is not None:
            revoked = await self._denylist.is_revoked(ask.token_id)
        return FrontAnswer(decision, entry, revoked, seq)
