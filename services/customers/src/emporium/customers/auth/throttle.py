"""Brute-force defence for sign-in: failures counted per email and per client IP.

After ``slow_after`` failures in the window, answers are delayed (doubling up to a cap);
once an email reaches ``lock_after`` failures, or an IP ``ip_lock_after``, sign-in for it is
refused with 429 and ``Retry-After`` for ``lock_seconds``. Unknown emails are counted like
known ones, so a lock says nothing about whether an account exists. Emails are stored
hashed.

Counters live in Redis when ``redis_url`` is set (shared by every process), else in memory.
If Redis fails, sign-in goes on undefended (logged) rather than refusing everyone.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from emporium.kit.errors import TooManyRequests, problem_type

__all__ = ["LoginLocked", "LoginThrottle", "MemoryCounters", "RedisCounters"]

log = logging.getLogger(__name__)


class LoginLocked(TooManyRequests):
    type = problem_type("sign-in-locked")
    title = "Too many failed sign-ins"


class Counters(abc.ABC):
    @abc.abstractmethod
    async def incr(self, key: str, window: int) -> int:
        """Add one to ``key`` (expiring ``window`` s after its first increment)."""

    @abc.abstractmethod
    async def get(self, key: str) -> int: ...

    @abc.abstractmethod
    async def lock(self, key: str, seconds: int) -> None: ...

    @abc.abstractmethod
    async def locked_for(self, key: str) -> int:
        """Seconds left on the lock of ``key``; 0 when not locked."""

    @abc.abstractmethod
    async def reset(self, key: str) -> None: ...

    async def close(self) -> None:
        return None


class MemoryCounters(Counters):
    """One process's counters (the embedded default)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry

    async def incr(self, key: str, window: int) -> int:
        entry = self._live(key)
        value, until = entry if entry else (0, time.monotonic() + window)
        self._values[key] = (value + 1, until)
        return value + 1

    async def get(self, key: str) -> int:
        entry = self._live(key)
        return entry[0] if entry else 0

    async def lock(self, key: str, seconds: int) -> None:
        self._values[f"lock:{key}"] = (1, time.monotonic() + seconds)

    async def locked_for(self, key: str) -> int:
        entry = self._live(f"lock:{key}")
        return max(1, int(entry[1] - time.monotonic() + 0.999)) if entry else 0

    async def reset(self, key: str) -> None:
        self._values.pop(key, None)


class RedisCounters(Counters):
    """Counters in Redis under ``<namespace>:``."""

    def __init__(self, url: str, namespace: str, *, timeout: float = 0.5) -> None:
        self._client: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = namespace + ":"

    async def incr(self, key: str, window: int) -> int:
        full = self._prefix + key
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, window, nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def get(self, key: str) -> int:
        value = await self._client.get(self._prefix + key)
        return int(value) if value is not None else 0

    async def lock(self, key: str, seconds: int) -> None:
        await self._client.set(self._prefix + "lock:" + key, b"1", ex=seconds)

    async def locked_for(self, key: str) -> int:
        ttl = int(await self._client.ttl(self._prefix + "lock:" + key))
        return ttl if ttl > 0 else 0

    async def reset(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def close(self) -> None:
        await self._client.aclose()


class LoginThrottle:
    """The sign-in policy on top of ``Counters`` (see the module docstring)."""

    def __init__(
        self,
        counters: Counters,
        *,
        window: int,
        slow_after: int,
        delay: float,
        max_delay: float,
        lock_after: int,
        ip_lock_after: int,
        lock_seconds: int,
    ) -> None:
        self.counters = counters
        self.window = window
        self.slow_after = slow_after
        self.delay = delay
        self.max_delay = max_delay
        self.lock_after = lock_after
        self.ip_lock_after = ip_lock_after
        self.lock_seconds = lock_seconds

    @staticmethod
    def _keys(email: str, ip: str) -> tuple[str, str]:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        return f"email:{digest}", f"ip:{ip}"

    async def check(self, email: str, ip: str) -> None:
        """Before checking a password: 429 while locked; a delay after repeated failures."""
        email_key, ip_key = self._keys(email, ip)
        try:
            wait = max(
                await self.counters.locked_for(email_key), await self.counters.locked_for(ip_key)
            )
            failures = await self.counters.get(email_key)
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)
            return
        if wait:
            raise LoginLocked("too many failed sign-ins; try again later", retry_after=wait)
        delay = self.delay_for(failures)
        if delay > 0:
            await asyncio.sleep(delay)

    def delay_for(self, failures: int) -> float:
        """Seconds to hold an answer after ``failures`` recent failures for the email."""
        if failures < self.slow_after:
            return 0.0
        return float(min(self.max_delay, self.delay * 2 ** (failures - self.slow_after)))

    async def failed(self, email: str, ip: str) -> None:
        """Count a failure; raises ``LoginLocked`` when it reaches a lock threshold."""
        email_key, ip_key = self._keys(email, ip)
        try:
            by_email = await self.counters.incr(email_key, self.window)
            by_ip = await self.counters.incr(ip_key, self.window)
            locked = [
                key
                for key, count, limit in (
                    (email_key, by_email, self.lock_after),
                    (ip_key, by_ip, self.ip_lock_after),
                )
                if count >= limit
            ]
            for key in locked:
                await self.counters.lock(key, self.lock_seconds)
                await self.counters.reset(key)
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)
            return
        if locked:
            log.warning("sign-in locked for %s after repeated failures", ", ".join(locked))
            raise LoginLocked(
                "too many failed sign-ins; try again later", retry_after=self.lock_seconds
            )

    async def succeeded(self, email: str, ip: str) -> None:
        email_key, _ = self._keys(email, ip)
        try:
            await self.counters.reset(email_key)
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)

    async def close(self) -> None:
        await self.counters.close()
