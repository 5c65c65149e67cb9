"""Rate limits: a fixed window per caller and bucket, counted in Redis (or in-process).

A caller is a customer when signed in, else a client IP; ``/auth/*`` has its own, stricter
bucket counted per client IP whoever calls (password guessing). The window starts at the
caller's first request (one Redis key with a TTL: ``INCR`` + ``PEXPIRE`` in the request's
one Lua script, ``front.py``, so a key can never be left without an expiry). Anonymous
windows are counted in the process and flushed to Redis in batches (``INCRBY`` +
``PEXPIRE``, ``batched_limits.py``: a bounded overshoot with several gateway processes).

Fails open: when Redis does not answer, requests go through without a limit; that is logged
(at most once per ``LOG_EVERY`` seconds) and Redis is left alone for a second so a dead
server does not cost every request a timeout (``outage.py``). Without a Redis URL (the embedded
default, one process) the windows are counted in memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["LOG_EVERY", "Decision", "MemoryRateLimiter", "decide"]

LOG_EVERY = 30.0


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

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers()`` as raw ASGI pairs, to append to an answer that has none of them."""
        out = [
            (b"ratelimit-limit", b"%d" % self.limit),
            (b"ratelimit-remaining", b"%d" % self.remaining),
            (b"ratelimit-reset", b"%d" % self.reset_seconds),
        ]
        if not self.allowed:
            out.append((b"retry-after", b"%d" % self.reset_seconds))
        return out


def decide(count: int, limit: int, ttl_seconds: float) -> Decision:
    """The decision for the ``count``-th request of a window with ``ttl_seconds`` left."""
    return Decision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        # Rounded to the microsecond first: ``(now + 60) - now`` can come out a hair over
        # 60, which ``ceil`` made a 61 s reset of a 60 s window.
        reset_seconds=max(1, math.ceil(round(ttl_seconds, 6))),
    )


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
