"""Stored answers of the response cache, tagged by the catalog's cache families.

Each answer is one Redis string (ready bytes: ``entry.py``) that lives ``ttl`` seconds and
is listed in the index of each of its families (``product:<id>``, ``listing``,
``categories``: the names the catalog's own cache uses; a listing answer is listed under
the family of each product it shows too, ``response_cache.listing_families``). Invalidating
a family deletes the answers its index lists, and nothing else: a stock change of one
product that leaves it in (or out of) stock drops that product's page and the listings
that show it, not every other page.

An answer fetched while its family was being invalidated must not be stored: it may
predate the change. Every invalidation takes the next number of a counter and marks its
families with it; the lookup returned the counter (``front.py``), and an answer is stored
only if none of its families was marked after that.

The Redis scripts touch keys they do not declare (the answers an index lists): this needs a
single Redis (or a cluster with every gateway key in one hash slot), as the rest of the
platform does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

__all__ = ["MARK_SECONDS", "Dropped", "MemoryAnswers", "RedisAnswers"]

#: How long a family's invalidation mark is kept: longer than any fetch can take.
MARK_SECONDS = 120


class Dropped(NamedTuple):
    """What an invalidation did: how many answers went, and its number in the counter."""

    answers: int
    seq: int


_STORE = """
local seq0 = tonumber(ARGV[3]) or 0
local n = (#KEYS - 1) / 2
for i = 1, n do
    local mark = tonumber(redis.call('GET', KEYS[1 + n + i]) or '0')
    if mark > seq0 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 1, n do
    redis.call('SADD', KEYS[1 + i], KEYS[1])
    redis.call('PEXPIRE', KEYS[1 + i], ARGV[2])
end
return 1
"""

_INVALIDATE = """
local seq = redis.call('INCR', KEYS[1])
local n = (#KEYS - 1) / 2
local dropped = 0
for i = 1, n do
    local members = redis.call('SMEMBERS', KEYS[1 + i])
    for j = 1, #members, 500 do
        dropped = dropped + redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
    end
    redis.call('DEL', KEYS[1 + i])
    redis.call('SET', KEYS[1 + n + i], seq, 'PX', ARGV[1])
end
return {dropped, seq}
"""


class RedisAnswers:
    """Answers under ``<prefix>resp:``, indexes under ``<prefix>tag:``, marks ``<prefix>inv:``."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self.prefix = prefix
        self.seq_key = prefix + "inv:seq"
        self._shas: dict[str, str] = {}

    def key(self, digest: str) -> str:
        return f"{self.prefix}resp:{digest}"

    async def store(
        self, key: str, value: bytes, *, ttl: float, families: Sequence[str], seq: int
    ) -> bool:
        """Store ``value`` unless one of ``families`` was invalidated after ``seq``."""
        keys = [key, *(self._index(f) for f in families), *(self._mark(f) for f in families)]
        try:
            return bool(await self._eval(_STORE, keys, [value, max(1, round(ttl * 1000)), seq]))
        except (TimeoutError, RedisError, OSError):
            return False  # a cache is a hint: serving goes on without it

    async def invalidate(self, families: Sequence[str]) -> Dropped:
        """Drop every answer of ``families``: how many went, and the invalidation's number
        (an answer fetched after it is stored with it). Raises on Redis errors."""
        if not families:
            return Dropped(0, 0)
        keys = [self.seq_key, *(self._index(f) for f in families)]
        keys += [self._mark(f) for f in families]
        dropped, seq = await self._eval(_INVALIDATE, keys, [MARK_SECONDS * 1000])
        return Dropped(int(dropped), int(seq))

    async def families(self) -> list[str]:
        """Every family that has an index (answers stored) now."""
        start = len(self.prefix) + len("tag:")
        found: list[str] = []
        async for key in self._client.scan_iter(match=f"{self.prefix}tag:*", count=500):
            found.append(key[start:].decode() if isinstance(key, bytes) else key[start:])
        return found

    def _index(self, family: str) -> str:
        return f"{self.prefix}tag:{family}"

    def _mark(self, family: str) -> str:
        return f"{self.prefix}inv:{family}"

    async def _eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = str(await self._client.script_load(script))
        try:
            return await self._client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", sha, len(keys), *keys, *args
            )
        except NoScriptError:
            del self._shas[script]
            return await self._eval(script, keys, args)


class MemoryAnswers:
    """The same in this process (the embedded default), bounded to ``max_entries``."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._index: dict[str, set[str]] = {}
        self._marks: dict[str, int] = {}
        self._max_entries = max_entries
        self.seq = 0

    def key(self, digest: str) -> str:
        return f"resp:{digest}"

    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires = found
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        return value

    async def store(
        self, key: str, value: bytes, *, ttl: float, families: Sequence[str], seq: int
    ) -> bool:
        if any(self._marks.get(family, 0) > seq for family in families):
            return False
        if len(self._entries) >= self._max_entries:
            self._purge()
        self._entries[key] = (value, time.monotonic() + ttl)
        for family in families:
            self._index.setdefault(family, set()).add(key)
        return True

    async def invalidate(self, families: Sequence[str]) -> Dropped:
        self.seq += 1
        dropped = 0
        for family in families:
            for key in self._index.pop(family, set()):
                dropped += self._entries.pop(key, None) is not None
            self._marks[family] = self.seq
        if len(self._marks) > self._max_entries:  # marks matter only to fetches in flight
            self._marks = {f: seq for f, seq in self._marks.items() if seq > self.seq - 1000}
        return Dropped(dropped, self.seq)

    async def families(self) -> list[str]:
        return list(self._index)

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        live = self._entries.keys()
        for family in list(self._index):
            self._index[family] &= live
            if not self._index[family]:
                del self._index[family]
