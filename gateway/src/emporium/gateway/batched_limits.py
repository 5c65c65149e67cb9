"""API rate limits counted in this process and flushed to Redis in batches.

The per-address windows of anonymous calls (``api:ip:<address>``) are what a cache hit
pays for, and a customer's window (``api:customer:<id>``) what a signed-in call pays for
beside its revocation check (``auth.RevocationChecks``): counting each in Redis cost a
round trip per request. Here every request is
counted in memory at once and judged against ``last global count + this process's
unflushed count``; every ``interval`` seconds one Redis call (one Lua script) adds each
window's unflushed count (``INCRBY``; ``PEXPIRE`` when the key is new, so the window still
starts at its first request, as in ``front.py``) and brings back the global counts and TTLs
that later requests are judged against. Fixed windows and the ``RateLimit-*`` headers stay.

With one gateway process the count is exact. With several (replicas, workers) a process
sees the others' requests only at its next flush, so a window can let through at most
about ``(replicas - 1) x (the caller's requests per second per replica) x interval`` more
than its limit (with the 0.1 s default and a caller spread over two replicas at 100
requests/s each: ~10 over); every request is still counted, so the next ones are refused.
``/auth/*`` (password guessing) stays exact: counted by the request's own script
(``front.py``).

Fails open like the rest (``Outage``): when a flush fails, the unflushed counts are
forgotten and requests go without a limit (no ``RateLimit-*``) until Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from emporium.gateway.outage import Outage
from emporium.gateway.ratelimit import Decision, decide

__all__ = ["BATCHED_PREFIXES", "BatchedRateLimiter", "flushing"]

log = logging.getLogger("emporium.gateway.batched_limits")

#: The windows counted here: API calls per client address (anonymous) and per customer.
BATCHED_PREFIXES = ("api:ip:", "api:customer:")

_FLUSH = """
local out = {}
for i = 1, #KEYS do
    local count = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
        redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
        ttl = tonumber(ARGV[2 * i])
    end
    out[2 * i - 1] = count
    out[2 * i] = ttl
end
return out
"""


@dataclass(slots=True)
class _Window:
    count: int  # the global count at the last flush (this process's flushed requests in it)
    pending: int  # counted here since, not yet in Redis
    ends: float  # monotonic
    window: int


class BatchedRateLimiter:
    """Windows under ``prefix`` in Redis, counted here and flushed every ``interval``."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        outage: Outage,
        interval: float = 0.1,
        max_keys: int = 100_000,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._outage = outage
        self.interval = interval
        self._max_keys = max_keys
        self._windows: dict[str, _Window] = {}
        self._dirty: set[str] = set()
        self._sha: str | None = None

    def hit(self, key: str, *, limit: int, window: int, now: float) -> Decision | None:
        """Count one request of ``key``'s window; None while Redis is away (fail open)."""
        if self._outage.down(now):
            return None
        current = self._windows.get(key)
        if current is None or now >= current.ends:
            if current is None and len(self._windows) >= self._max_keys:
                self._purge(now)
            # Until the next flush tells otherwise: a window of our own, starting now.
            current = self._windows[key] = _Window(0, 0, now + window, window)
        current.pending += 1
        self._dirty.add(key)
        # Never past the window: the end learned from a flush is the reply's time plus the
        # key's TTL, and the caller's ``now`` was taken before its own awaits, so it can be
        # older than that reply: ``ends - now`` then exceeds the window (a 61 s Retry-After).
        return decide(current.count + current.pending, limit, min(current.ends - now, window))

    def allows(self, key: str, *, limit: int, now: float) -> bool:
        """Whether one more request of ``key`` would be let through (nothing counted)."""
        if self._outage.down(now):
            return True
        current = self._windows.get(key)
        if current is None or now >= current.ends:
            return limit >= 1
        return current.count + current.pending < limit

    async def flush(self) -> None:
        """Send every unflushed count in one Redis call; take back the global counts."""
        if not self._dirty:
            return
        keys = list(self._dirty)
        self._dirty.clear()
        sent = [(key, self._windows[key]) for key in keys if key in self._windows]
        args: list[Any] = []
        for _, w in sent:
            args += [w.pending, w.window * 1000]
        counts = [w.pending for _, w in sent]
        try:
            result = await self._run([self._prefix + key for key, _ in sent], args)
        except (TimeoutError, RedisError, OSError) as error:
            # Fail open: what was not counted in Redis is forgotten with the windows.
            self._windows.clear()
            self._dirty.clear()
            self._outage.failed(time.monotonic(), error)
            return
        now = time.monotonic()
        for i, (key, w) in enumerate(sent):
            if self._windows.get(key) is not w:
                continue  # the window ended here meanwhile; the next flush starts it anew
            w.pending -= counts[i]
            w.count = int(result[2 * i])
            w.ends = now + int(result[2 * i + 1]) / 1000

    async def run(self) -> None:
        """Flush every ``interval`` until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # never stop flushing: the windows would go local-only
                log.exception("rate-limit flush failed")

    async def _run(self, keys: list[str], args: list[Any]) -> list[Any]:
        if self._sha is None:
            self._sha = str(await self._client.script_load(_FLUSH))
        try:
            result: list[Any] = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._sha, len(keys), *keys, *args
            )
        except NoScriptError:  # Redis restarted (scripts are not persisted): load again
            self._sha = None
            return await self._run(keys, args)
        return result

    def _purge(self, now: float) -> None:
        for stale in [k for k, w in self._windows.items() if w.ends <= now and not w.pending]:
            del self._windows[stale]
            self._dirty.discard(stale)
        if len(self._windows) >= self._max_keys:  # still full of live windows: forget them
            self._windows.clear()
            self._dirty.clear()


@contextlib.asynccontextmanager
async def flushing(limiter: BatchedRateLimiter) -> AsyncIterator[BatchedRateLimiter]:
    """Flush ``limiter`` in the background for the lifespan of the app, and once at its end."""
    task = asyncio.create_task(limiter.run(), name="rate-limit-flush")
    try:
        yield limiter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await limiter.flush()
