"""In-process cache: the embedded default when no Redis is configured.

Entries expire after their TTL and the cache is bounded both in entries and in bytes; past a
bound the least recently used entries are evicted. Every operation runs without awaiting,
so each is atomic with respect to other tasks of the event loop. Not shared between
processes: each worker has its own copy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from emporium.kit.cache.base import Cache

__all__ = ["MemoryCache"]


class MemoryCache(Cache):
    """A bounded LRU cache with per-entry TTL, living in this process."""

    def __init__(
        self,
        namespace: str,
        *,
        default_ttl: float = 300.0,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(namespace, default_ttl=default_ttl)
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # key -> (value, monotonic expiry or None); order = recency, most recent last.
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        """Entries held, expired ones not yet evicted included."""
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes of keys and values held."""
        return self._bytes

    async def _raw_get(self, key: str) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def _raw_set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._store(key, value, ttl)

    async def _raw_add(self, key: str, value: bytes, ttl: float | None) -> bool:
        if self._live(key) is not None:
            return False
        self._store(key, value, ttl)
        return True

    async def _raw_delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._drop(key)

    async def _raw_delete_if(self, key: str, value: bytes) -> None:
        entry = self._live(key)
        if entry is not None and entry[0] == value:
            self._drop(key)

    async def _raw_ping(self) -> None:
        return None

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= time.monotonic():
            self._drop(key)
            return None
        return entry

    def _store(self, key: str, value: bytes, ttl: float | None) -> None:
        size = len(key) + len(value)
        self._drop(key)
        if size > self.max_bytes:
            return  # would evict everything and still not fit: not worth caching
        expires = None if ttl is None else time.monotonic() + ttl
        self._entries[key] = (bytes(value), expires)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + len(entry[0])
