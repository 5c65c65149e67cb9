"""Cache-aside with stampede protection and optional serve-stale.

``get_or_compute(cache, key, compute)`` returns the cached value of ``key`` or computes,
stores and returns it; ``put(cache, key, value)`` stores a value already at hand in the same
form (one write, no lock). When a hot key is missing, only one caller computes:

- inside a process, callers of one cache share a single computation (one task per key; the
  others await it). The task is shielded, so a caller that gives up (cancelled request)
  does not cancel the computation the others wait for;
- across processes (Redis), the computing process holds a short lock (``SET NX PX``) while
  the others poll the key for up to ``wait`` seconds (every 20 ms, backing off to 200 ms).
  If the value has not appeared by then - the holder died or is too slow - they compute
  themselves. A poller that finds the lock released without a value (the holder failed)
  takes the lock and computes.

With ``stale_ttl`` the value is stored for ``ttl + stale_ttl`` seconds together with its
soft expiry (now + ``ttl``). A lookup past the soft expiry returns the stale copy to every
caller except one, which recomputes (and gets the fresh value); if that recomputation
raises, it is logged and the stale copy is served. Use one setting of ``stale_ttl`` per key:
a value stored without it is not recognised with it (it is recomputed) and vice versa.

When the cache is unavailable every process computes for itself (still once per process).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import weakref
from collections.abc import Awaitable, Callable

from emporium.kit.cache.base import Cache

__all__ = ["get_or_compute", "put"]

log = logging.getLogger("emporium.kit.cache")

# Serve-stale envelope: magic, soft expiry (epoch seconds, float64), then the value.
_MAGIC = b"\x00swr1"
_HEADER = struct.Struct(">d")
_POLL_FIRST = 0.02
_POLL_MAX = 0.2

_flights: weakref.WeakKeyDictionary[Cache, dict[str, asyncio.Task[bytes]]] = (
    weakref.WeakKeyDictionary()
)


async def get_or_compute(
    cache: Cache,
    key: str,
    compute: Callable[[], Awaitable[bytes]],
    *,
    ttl: float | None = None,
    stale_ttl: float | None = None,
    lock_ttl: float = 10.0,
    wait: float = 5.0,
) -> bytes:
    """The value of ``key``: from ``cache``, else from ``compute()`` (then stored).

    ``ttl`` defaults to the cache's ``default_ttl``. ``stale_ttl`` enables serve-stale for
    that many seconds past ``ttl``. ``lock_ttl`` bounds how long another process's lock is
    respected (set it above the usual compute time); ``wait`` is how long a caller polls for
    another process's result before computing itself. Exceptions of ``compute`` propagate
    to every caller waiting on that computation (nothing is stored).
    """
    fresh_for = _checked_ttl(cache, ttl, stale_ttl)
    raw = await cache.get(key)
    stale: bytes | None = None
    if raw is not None:
        if stale_ttl is None:
            return raw
        unwrapped = _unwrap(raw)
        if unwrapped is not None:  # else not an envelope: a plain miss
            value, fresh = unwrapped
            if fresh:
                return value
            stale = value

    flights = _flights.setdefault(cache, {})
    task = flights.get(key)
    if task is not None:
        # Someone in this process is already computing: wait for it, unless we hold a stale
        # copy to serve meanwhile.
        return stale if stale is not None else await asyncio.shield(task)
    spec = _Spec(cache, key, compute, fresh_for, stale_ttl, lock_ttl, wait)
    task = asyncio.ensure_future(spec.fill(stale))
    flights[key] = task
    task.add_done_callback(lambda done: _landed(flights, key, done))
    return await asyncio.shield(task)


async def put(
    cache: Cache,
    key: str,
    value: bytes,
    *,
    ttl: float | None = None,
    stale_ttl: float | None = None,
) -> None:
    """Store ``value`` under ``key`` as ``get_or_compute`` with these ``ttl`` and
    ``stale_ttl`` would have stored it, in one write."""
    fresh_for = _checked_ttl(cache, ttl, stale_ttl)
    await cache.set(key, *_entry(value, fresh_for, stale_ttl))


def _checked_ttl(cache: Cache, ttl: float | None, stale_ttl: float | None) -> float:
    fresh_for = cache.default_ttl if ttl is None else ttl
    if fresh_for <= 0 or (stale_ttl is not None and stale_ttl <= 0):
        raise ValueError("ttl and stale_ttl must be positive")
    return fresh_for


def _entry(value: bytes, ttl: float, stale_ttl: float | None) -> tuple[bytes, float]:
    """What is stored for ``value``, and for how long."""
    if stale_ttl is None:
        return value, ttl
    soft = time.time() + ttl  # wall clock: compared by other processes too
    return _MAGIC + _HEADER.pack(soft) + value, ttl + stale_ttl


def _landed(flights: dict[str, asyncio.Task[bytes]], key: str, task: asyncio.Task[bytes]) -> None:
    if flights.get(key) is task:
        del flights[key]
    if not task.cancelled():
        task.exception()  # mark it retrieved: if every waiter was cancelled, no "never retrieved"


class _Spec:
    """One computation of one key (the shared task runs ``fill``)."""

    def __init__(
        self,
        cache: Cache,
        key: str,
        compute: Callable[[], Awaitable[bytes]],
        ttl: float,
        stale_ttl: float | None,
        lock_ttl: float,
        wait: float,
    ) -> None:
        self.cache = cache
        self.key = key
        self.compute = compute
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.lock_ttl = lock_ttl
        self.wait = wait

    async def fill(self, stale: bytes | None) -> bytes:
        token = await self.cache.lock(self.key, self.lock_ttl)
        if token is None:
            if stale is not None:
                return stale  # another process is refreshing: serve stale meanwhile
            value, token = await self._await_other()
            if value is not None:
                return value
        try:
            if token is not None:
                # A second look once locked: a holder may have stored it and let go between
                # our miss and our lock (without it a hot key was computed twice across
                # processes now and then, under load).
                current = await self._lookup()
                if current is not None:
                    return current
            try:
                value = await self.compute()
            except Exception:
                if stale is None:
                    raise
                log.exception("refreshing cache key %s failed; serving the stale copy", self.key)
                return stale
            if not isinstance(value, bytes):
                raise TypeError(f"compute() must return bytes, not {type(value).__name__}")
            await self._store(value)
            return value
        finally:
            if token is not None:
                await self.cache.unlock(self.key, token)

    async def _await_other(self) -> tuple[bytes | None, str | None]:
        """Poll for another process's result; returns (value, None) or (None, our lock)."""
        deadline = time.monotonic() + self.wait
        delay = _POLL_FIRST
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
            value = await self._lookup()
            if value is not None:
                return value, None
            token = await self.cache.lock(self.key, self.lock_ttl)
            if token is not None:
                return None, token
        return None, None  # waited long enough: compute without the lock

    async def _lookup(self) -> bytes | None:
        """The usable (fresh) value of the key, without counting it as a request."""
        raw = await self.cache.get(self.key, record=False)
        if raw is None or self.stale_ttl is None:
            return raw
        unwrapped = _unwrap(raw)
        return unwrapped[0] if unwrapped is not None and unwrapped[1] else None

    async def _store(self, value: bytes) -> None:
        await self.cache.set(self.key, *_entry(value, self.ttl, self.stale_ttl))


def _unwrap(raw: bytes) -> tuple[bytes, bool] | None:
    """(value, fresh) of a serve-stale envelope; None when ``raw`` is not one."""
    if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + _HEADER.size:
        return None
    soft = float(_HEADER.unpack_from(raw, len(_MAGIC))[0])
    return raw[len(_MAGIC) + _HEADER.size :], time.time() < soft
