"""The first-level response cache: ready answers in this gateway process's memory.

Keyed by the request's raw target (the bytes of its path and query, so a hit needs no
re-encoding; every spelling of one canonical target maps to the same families). A hit
served from here asks Redis nothing (the rate limit is counted locally too:
``batched_limits.py``), so it costs about what the gateway's own ``/healthz`` does. Entries
are what Redis holds (``answers.py``), parsed once: raw headers with the length, the ETag,
the body. Kept coherent by the same messages as Redis: every entry of a family the catalog
announces stale, or a write through the gateway touches, is dropped at once
(``ResponseCache.invalidate``), and an entry lives no longer than its Redis copy (its
remaining TTL is read with it).

An answer read or fetched before an invalidation must not be kept after it: every drop
bumps ``generation``, and ``put`` refuses an entry looked up under an older one. While the
invalidation listener is not subscribed (announcements would be missed) nothing is kept
or served (``enabled``). Bounded: at most ``max_entries`` entries and ``max_bytes`` bytes
of bodies and headers; the oldest stored go first.

An entry found in its last ``ahead_seconds`` is named to ``expiring`` (the refresher,
``refresh.py``), which fetches it again in the background: an answer shoppers keep asking
for is replaced before it expires instead of turning into a miss for whoever comes next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["LocalAnswers", "Ready"]


@dataclass(frozen=True, slots=True)
class Ready:
    """One answer, ready to send: its raw headers (length included), ETag and body."""

    raw_headers: list[tuple[bytes, bytes]]
    etag: str
    body: bytes
    expires: float
    families: tuple[str, ...]
    size: int


class LocalAnswers:
    """Ready answers by request target (raw path and query), indexed by family; bounded."""

    def __init__(self, *, max_entries: int, max_bytes: int, ahead_seconds: float = 0.0) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ahead_seconds = ahead_seconds
        #: Told the key of an entry found in its last ``ahead_seconds``.
        self.expiring: Callable[[bytes], None] | None = None
        self.generation = 0
        self.enabled = False
        self.bytes = 0
        self._entries: dict[bytes, Ready] = {}
        self._index: dict[str, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Ready | None:
        """The live entry of ``key``, if any (an expired one is dropped)."""
        ready = self._entries.get(key)
        if ready is None:
            return None
        if now >= ready.expires:
            self._remove(key)
            return None
        if now >= ready.expires - self.ahead_seconds and self.expiring is not None:
            self.expiring(key)
        return ready

    def put(self, key: bytes, ready: Ready, generation: int) -> bool:
        """Keep ``ready`` unless something was dropped since ``generation`` was read."""
        if not self.enabled or generation != self.generation or ready.size > self.max_bytes:
            return False
        if key in self._entries:
            self._remove(key)
        while self._entries and (
            len(self._entries) >= self.max_entries or self.bytes + ready.size > self.max_bytes
        ):
            self._remove(next(iter(self._entries)))  # the oldest stored
        self._entries[key] = ready
        self.bytes += ready.size
        for family in ready.families:
            self._index.setdefault(family, set()).add(key)
        return True

    def drop(self, families: Iterable[str]) -> list[bytes]:
        """Drop every entry of ``families``; the keys of those that went."""
        self.generation += 1
        dropped = []
        for family in families:
            for key in self._index.pop(family, ()):
                if self._remove(key):
                    dropped.append(key)
        return dropped

    def clear(self) -> None:
        """Drop everything (announcements may have been missed)."""
        self.generation += 1
        self._entries.clear()
        self._index.clear()
        self.bytes = 0

    def _remove(self, key: bytes) -> bool:
        ready = self._entries.pop(key, None)
        if ready is None:
            return False
        self.bytes -= ready.size
        for family in ready.families:
            keys = self._index.get(family)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[family]
        return True
