"""Ready answers (response bodies) kept in the process, in front of the shared cache.

A cached product GET used to cost two Redis round trips: the family's generation, then the
entry under it. The generation is what makes an entry current, so it is still read from
the shared cache on every request; only the second trip is saved. An answer is kept here
under its ``versioned`` key, which embeds the generation, so:

- a write anywhere (any worker process, any replica) bumps the generation after its commit,
  the next request reads the new generation and misses here: exactly as coherent as the
  shared cache itself, never less;
- when the shared cache cannot answer, ``generation()`` is a fresh random token: a miss
  here too, so the answer is computed from the database as before.

Entries also expire after ``ttl`` seconds (10), never later than the shared entry's own
TTL, so a bump lost while Redis was down is outlived by at most that much more than the
shared entry; the least recently used go first once ``max_bytes`` (32 MiB) of bodies are
held.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from emporium.catalog.generations import versioned
from emporium.kit.cache import get_or_compute
from emporium.kit.cache.base import Cache

__all__ = ["Answers", "answers_of", "cached_answer"]


class Answers:
    """A bytes-bounded LRU of response bodies by versioned cache key, each with an expiry."""

    def __init__(self, *, max_bytes: int = 32 * 1024 * 1024, ttl: float = 10.0) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, body = entry
        if time.monotonic() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return body

    def put(self, key: str, body: bytes, ttl: float | None = None) -> None:
        """Keep ``body`` for ``ttl`` seconds (at most the set's own ``ttl``)."""
        if len(body) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        keep = self.ttl if ttl is None else min(ttl, self.ttl)
        self._entries[key] = (time.monotonic() + keep, body)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        _, body = self._entries.pop(key)
        self._bytes -= len(body)


_of_cache: weakref.WeakKeyDictionary[Cache, Answers] = weakref.WeakKeyDictionary()


def answers_of(cache: Cache) -> Answers:
    """The answers kept in front of ``cache`` (one set per cache, so per app)."""
    answers = _of_cache.get(cache)
    if answers is None:
        answers = _of_cache[cache] = Answers()
    return answers


async def cached_answer(
    cache: Cache,
    family: str,
    key: str,
    compute: Callable[[], Awaitable[bytes]],
    *,
    ttl: float | None = None,
    stale_ttl: float | None = None,
) -> bytes:
    """``key`` of ``family``'s current generation: from this process, else from the shared
    cache (``get_or_compute``: one computation for a hot key across processes)."""
    full = await versioned(cache, family, key)
    answers = answers_of(cache)
    body = answers.get(full)
    if body is None:
        body = await get_or_compute(cache, full, compute, ttl=ttl, stale_ttl=stale_ttl)
        # Never kept longer here than in the shared cache.
        answers.put(full, body, cache.default_ttl if ttl is None else ttl)
    return body
