"""Rate limits: a fixed window per caller and bucket, counted in Redis (or in-process).

A caller is a customer when signed in, else a client IP; ``/auth/*`` has its own, stricter
bucket counted per client IP whoever calls (password guessing). The window starts at the
caller's first request (one Redis key with a TTL: ``INCR`` + ``PEXPIRE`` in one Lua script,
so a key can never be left without an expiry).

Fails open: when Redis does not answer, requests go through without a limit; that is logged
(at most once per ``LOG_EVERY`` seconds) and Redis is left alone for ``cooldown`` seconds so
a dead server does not cost every request a timeout. Without a Redis URL (the embedded
default, one process) the windows are counted in memory.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = [
    "LOG_EVERY",
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "decide",
]

log = logging.getLogger("emporium.gateway.ratelimit")

LOG_EVERY = 30.0

_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against its limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` (IETF draft) and, when refused, ``Retry-After``."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_seconds)
        return out


def decide(count: int, limit: int, ttl_seconds: float) -> Decision:
    """The decision for the ``count``-th request of a window with ``ttl_seconds`` left."""
    return Decision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_seconds=max(1, math.ceil(ttl_seconds)),
    )


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: int) -> Decision | None:
        """Count one request of ``key``; None when the limiter cannot tell (fail open)."""
        ...


class RedisRateLimiter:
    """Windows in Redis, shared by every gateway process."""

    def __init__(
        self, client: Redis, *, prefix: str = "gateway:ratelimit:", cooldown: float = 1.0
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._script: Any = client.register_script(_HIT)
        self._cooldown = cooldown
        self._down_until = 0.0
        self._last_log = float("-inf")
        self._skipped = 0

    async def hit(self, key: str, *, limit: int, window: int) -> Decision | None:
        now = time.monotonic()
        if now < self._down_until:
            self._skipped += 1
            return None
        try:
            count, ttl_ms = await self._script(keys=[self._prefix + key], args=[window * 1000])
        except (TimeoutError, RedisError, OSError) as error:
            self._down_until = now + self._cooldown
            self._skipped += 1
            if now - self._last_log >= LOG_EVERY:
                log.warning(
                    "rate limits not enforced: Redis unavailable (%d request(s) let through "
                    "since last report): %s: %s",
                    self._skipped,
                    type(error).__name__,
                    error,
                )
                self._last_log = now
                self._skipped = 0
            return None
        return decide(int(count), limit, int(ttl_ms) / 1000)


class MemoryRateLimiter:
    """Windows in this process's memory (the embedded default runs one gateway process)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, *, limit: int, window: int) -> Decision:
        now = time.monotonic()
        count, ends = self._windows.get(key, (0, 0.0))
        if now >= ends:
            count, ends = 0, now + window
            if len(self._windows) >= self._max_keys:
                self._purge(now)
        count += 1
        self._windows[key] = (count, ends)
        return decide(count, limit, ends - now)

    def _purge(self, now: float) -> None:
        for stale in [k for k, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[stale]
        if len(self._windows) >= self._max_keys:  # still full of live windows: forget them
            self._windows.clear()
