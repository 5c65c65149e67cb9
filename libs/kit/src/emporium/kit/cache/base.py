"""The cache contract: a namespaced bytes store that never fails a request.

Every public operation of a ``Cache`` degrades to "no cache" when the backend fails (Redis
down, timeout): ``get`` returns ``None``, ``set``/``delete`` do nothing. Failures are counted
(``CACHE_ERRORS``), logged at most once per ``LOG_EVERY`` seconds, and after one the backend
is left alone for ``cooldown`` seconds (lookups count as ``bypass``) so a dead server does
not cost every request a timeout. The next operation after the cooldown tries again: the
cache recovers by itself.

Keys live in the cache's namespace (``"<namespace>:<key>"``). Keys starting with ``~`` are
reserved for the cache's own bookkeeping (locks, generations).

A cache is a hint, never the truth: a ``delete`` or ``bump`` made while the backend is down
is lost, so entries must always carry a TTL that bounds how stale they can get.
"""

from __future__ import annotations

import abc
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from emporium.kit.metrics import CACHE_ERRORS, CACHE_REQUESTS

__all__ = ["LOG_EVERY", "Cache"]

log = logging.getLogger("emporium.kit.cache")

#: Seconds between two log lines about the same failing cache.
LOG_EVERY = 30.0

T = TypeVar("T")


class Cache(abc.ABC):
    """A namespaced bytes cache (see the module docstring for the failure contract).

    Subclasses implement the ``_raw_*`` operations on full keys and list in ``_failures``
    the exceptions that mean "backend unavailable"; anything else is a bug and propagates.
    """

    #: Exceptions of the backend that make an operation degrade instead of raising.
    _failures: tuple[type[BaseException], ...] = ()

    def __init__(
        self, namespace: str, *, default_ttl: float = 300.0, cooldown: float = 1.0
    ) -> None:
        if not namespace or any(c.isspace() for c in namespace):
            raise ValueError(f"invalid cache namespace {namespace!r}")
        if default_ttl <= 0:
            raise ValueError("default_ttl must be positive")
        self.namespace = namespace
        self.default_ttl = default_ttl
        self.cooldown = cooldown
        self._prefix = f"{namespace}:"
        self._hit = CACHE_REQUESTS.labels(cache=namespace, result="hit")
        self._miss = CACHE_REQUESTS.labels(cache=namespace, result="miss")
        self._bypass = CACHE_REQUESTS.labels(cache=namespace, result="bypass")
        self._errors = CACHE_ERRORS.labels(cache=namespace)
        self._down_until = 0.0
        self._failed_since_log = 0
        self._failed_total = 0
        self._last_log = float("-inf")

    # -- what a backend implements (full keys, may raise one of ``_failures``) ----------

    @abc.abstractmethod
    async def _raw_get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def _raw_set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value``; ``ttl`` None means no expiry."""

    @abc.abstractmethod
    async def _raw_add(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Store ``value`` only if ``key`` holds nothing; True when stored."""

    @abc.abstractmethod
    async def _raw_delete(self, keys: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def _raw_delete_if(self, key: str, value: bytes) -> None:
        """Delete ``key`` only if it still holds ``value`` (atomically)."""

    @abc.abstractmethod
    async def _raw_ping(self) -> None: ...

    async def close(self) -> None:
        """Release the backend's connections (the cache must not be used afterwards)."""
        return None

    # -- the public, never-failing API ----------------------------------------------------

    def full_key(self, key: str) -> str:
        """The backend key of ``key``: ``"<namespace>:<key>"``."""
        return self._prefix + key

    async def get(self, key: str, *, record: bool = True) -> bytes | None:
        """The value stored under ``key``, or None (missing, expired or cache unavailable).

        ``record=False`` keeps the lookup out of ``CACHE_REQUESTS`` (internal polling).
        """
        ok, value = await self._guard(lambda: self._raw_get(self.full_key(key)), None)
        if record:
            (self._bypass if not ok else self._hit if value is not None else self._miss).inc()
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default: ``default_ttl``)."""
        seconds = self._ttl(ttl)
        await self._guard(lambda: self._raw_set(self.full_key(key), value, seconds), None)

    async def delete(self, *keys: str) -> None:
        """Forget ``keys`` (missing ones are fine)."""
        if keys:
            full = [self.full_key(k) for k in keys]
            await self._guard(lambda: self._raw_delete(full), None)

    async def lock(self, key: str, ttl: float) -> str | None:
        """Try to take the short lock of ``key`` for ``ttl`` seconds.

        Returns a token to pass to ``unlock`` when taken, None when someone else holds it.
        When the backend is unavailable there is nobody to coordinate with: a token is
        returned and the caller proceeds on its own.
        """
        token = secrets.token_hex(8)
        lock_key = self.full_key(f"~lock:{key}")
        ok, taken = await self._guard(
            lambda: self._raw_add(lock_key, token.encode(), self._ttl(ttl)), False
        )
        return token if taken or not ok else None

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock of ``key`` if ``token`` still holds it (it may have expired)."""
        lock_key = self.full_key(f"~lock:{key}")
        await self._guard(lambda: self._raw_delete_if(lock_key, token.encode()), None)

    async def generation(self, name: str) -> str:
        """The current generation token of ``name`` (created on first use).

        Generations are random tokens, not counters, so a generation key that is lost
        (evicted, Redis restarted) yields a new token that matches no older entry.
        """
        gen_key = self.full_key(f"~gen:{name}")
        ok, current = await self._guard(lambda: self._raw_get(gen_key), None)
        if current is not None:
            return current.decode()
        fresh = secrets.token_hex(6)
        if not ok:
            return fresh
        ok, added = await self._guard(lambda: self._raw_add(gen_key, fresh.encode(), None), False)
        if added or not ok:
            return fresh
        # Someone else created it between our get and add: use theirs.
        ok, current = await self._guard(lambda: self._raw_get(gen_key), None)
        return current.decode() if current is not None else fresh

    async def bump(self, name: str) -> None:
        """Start a new generation of ``name``: every ``versioned`` key of it changes."""
        gen_key = self.full_key(f"~gen:{name}")
        fresh = secrets.token_hex(6).encode()
        await self._guard(lambda: self._raw_set(gen_key, fresh, None), None)

    async def versioned(self, name: str, key: str) -> str:
        """``key`` inside the current generation of ``name``: ``"<name>:<generation>:<key>"``.

        Use for families of entries that are invalidated together (listing pages)::

            key = await cache.versioned("products", f"list:{page}")
            ...
            await cache.bump("products")   # every page is now a miss
        """
        return f"{name}:{await self.generation(name)}:{key}"

    async def ping(self) -> bool:
        """True when the backend answers (for readiness checks; never raises)."""
        try:
            await self._raw_ping()
        except self._failures:
            return False
        return True

    @property
    def available(self) -> bool:
        """False while the cache is bypassing a backend that just failed."""
        return time.monotonic() >= self._down_until

    # -- helpers ----------------------------------------------------------------------------

    def _ttl(self, ttl: float | None) -> float:
        seconds = self.default_ttl if ttl is None else ttl
        if seconds <= 0:
            raise ValueError("ttl must be positive")
        return seconds

    async def _guard(self, operation: Callable[[], Awaitable[T]], fallback: T) -> tuple[bool, T]:
        """Run ``operation``; on a backend failure return ``(False, fallback)``."""
        if time.monotonic() < self._down_until:
            return False, fallback
        try:
            result = await operation()
        except self._failures as error:
            self._failed(error)
            return False, fallback
        if self._failed_total:
            self._recovered()
        return True, result

    def _failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self._errors.inc()
        self._down_until = now + self.cooldown
        self._failed_total += 1
        self._failed_since_log += 1
        if now - self._last_log >= LOG_EVERY:
            log.warning(
                "cache %s unavailable, serving without it (%d failure(s) since last report): "
                "%s: %s",
                self.namespace,
                self._failed_since_log,
                type(error).__name__,
                error,
            )
            self._last_log = now
            self._failed_since_log = 0

    def _recovered(self) -> None:
        log.info("cache %s available again after %d failure(s)", self.namespace, self._failed_total)
        self._failed_total = 0
        self._failed_since_log = 0
        self._last_log = float("-inf")
