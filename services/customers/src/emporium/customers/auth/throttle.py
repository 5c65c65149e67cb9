"""Brute-force defence for sign-in: failures counted per (email, client address), per
client address and per email, under the rules of ``throttle_policy``.

A lock covers one (email, address) pair or one address, answered with 429 and
``Retry-After``; the per-email count over every address only slows answers down, so
failures elsewhere never lock an owner out from their own address. Unknown emails are
counted like known ones, so a lock says nothing about whether an account exists. Emails
and addresses are stored hashed.

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

from emporium.customers.auth.throttle_policy import (
    Failures,
    ThrottlePolicy,
    answer_delay,
    locks_for,
)
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
    """One process's counters (the embedded default).

    Expired entries are swept every ``sweep_every`` writes, so a spray of made-up emails
    and addresses cannot grow the table without bound.
    """

    def __init__(self, *, sweep_every: int = 1024) -> None:
        self._values: dict[str, tuple[int, float]] = {}
        self._sweep_every = sweep_every
        self._writes = 0

    def __len__(self) -> int:
        return len(self._values)

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % self._sweep_every == 0:
            now = time.monotonic()
            for key in [k for k, (_, until) in self._values.items() if until <= now]:
                del self._values[key]

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
        self._wrote()
        return value + 1

    async def get(self, key: str) -> int:
        entry = self._live(key)
        return entry[0] if entry else 0

    async def lock(self, key: str, seconds: int) -> None:
        self._values[f"lock:{key}"] = (1, time.monotonic() + seconds)
        self._wrote()

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
    """The sign-in policy (``throttle_policy``) on top of ``Counters``."""

    def __init__(self, counters: Counters, policy: ThrottlePolicy, *, window: int) -> None:
        self.counters = counters
        self.policy = policy
        self.window = window

    @staticmethod
    def _keys(email: str, ip: str) -> dict[str, str]:
        def digest(value: str) -> str:
            return hashlib.sha256(value.encode()).hexdigest()[:32]

        return {
            "pair": f"pair:{digest(email + chr(0) + ip)}",
            "address": f"ip:{digest(ip)}",
            "email": f"email:{digest(email)}",
        }

    async def check(self, email: str, ip: str) -> None:
        """Before checking a password: 429 while locked; a delay after repeated failures."""
        keys = self._keys(email, ip)
        try:
            wait = max(
                await self.counters.locked_for(keys["pair"]),
                await self.counters.locked_for(keys["address"]),
            )
            failures = Failures(
                pair=await self.counters.get(keys["pair"]),
                address=await self.counters.get(keys["address"]),
                email=await self.counters.get(keys["email"]),
            )
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)
            return
        if wait:
            raise LoginLocked("too many failed sign-ins; try again later", retry_after=wait)
        delay = answer_delay(self.policy, failures)
        if delay > 0:
            await asyncio.sleep(delay)

    async def failed(self, email: str, ip: str) -> None:
        """Count a failure; raises ``LoginLocked`` when it reaches a lock threshold."""
        keys = self._keys(email, ip)
        try:
            failures = Failures(
                pair=await self.counters.incr(keys["pair"], self.window),
                address=await self.counters.incr(keys["address"], self.window),
                email=await self.counters.incr(keys["email"], self.window),
            )
            locked = locks_for(self.policy, failures)
            for scope in locked:
                await self.counters.lock(keys[scope], self.policy.lock_seconds)
                await self.counters.reset(keys[scope])
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)
            return
        if locked:
            log.warning("sign-in locked (%s) after repeated failures", ", ".join(locked))
            raise LoginLocked(
                "too many failed sign-ins; try again later",
                retry_after=self.policy.lock_seconds,
            )

    async def succeeded(self, email: str, ip: str) -> None:
        """The owner got in from this address: forget this pair's failures (only those)."""
        try:
            await self.counters.reset(self._keys(email, ip)["pair"])
        except (RedisError, OSError) as error:
            log.warning("sign-in throttle unavailable: %s", error)

    async def close(self) -> None:
        await self.counters.close()
