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

A listing answer depends on more than the ``listing`` family: on every product in it
(``cached_listing``). Within one generation of ``listing`` a listing holds the same
products (whatever moves a product between pages or filters bumps ``listing``), so its
products are stored once per generation (its "members"), and its body under a key that
also names each member's current generation: a stock change of one product (which bumps
only ``product:<id>``) makes a miss of exactly the listings that show it. In this process
the members are remembered too, so a hit reads the generations of ``listing`` and of its
products in one batched ``MGET``, as a product hit reads its own.

Entries also expire after ``ttl`` seconds (10), never later than the shared entry's own
TTL, so a bump lost while Redis was down is outlived by at most that much more than the
shared entry; the least recently used go first once ``max_bytes`` (32 MiB) of bodies are
held.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from emporium.catalog.generations import generations, versioned
from emporium.catalog.invalidation import ITEMS, LISTING
from emporium.kit.cache import get_or_compute, put
from emporium.kit.cache.base import Cache

__all__ = ["Answers", "Listed", "answers_of", "cached_answer", "cached_listing"]

#: A listing's body and the families of the products in it.
Listed = tuple[bytes, tuple[str, ...]]


class Answers:
    """A bytes-bounded LRU of response bodies by versioned cache key, each with an expiry."""

    def __init__(
        self, *, max_bytes: int = 32 * 1024 * 1024, ttl: float = 10.0, max_members: int = 10_000
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.max_members = max_members
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        # Listing key -> (the ``listing`` generation, its products' families).
        self._members: OrderedDict[str, tuple[str, tuple[str, ...]]] = OrderedDict()

    def members(self, key: str) -> tuple[str, tuple[str, ...]] | None:
        """The products of listing ``key`` as last seen here, with that ``listing``
        generation."""
        return self._members.get(key)

    def remember(self, key: str, listing_generation: str, families: tuple[str, ...]) -> None:
        self._members[key] = (listing_generation, families)
        self._members.move_to_end(key)
        while len(self._members) > self.max_members:
            self._members.popitem(last=False)

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


def _body_key(listing_generation: str, key: str, families: tuple[str, ...], gens: list[str]) -> str:
    # The body is current while ``listing`` and each of its products keep these generations.
    digest = hashlib.sha256("\n".join(gens).encode()).hexdigest()[:32]
    return f"{LISTING}:{listing_generation}:{key}|{digest}"


def _members_of(raw: bytes) -> tuple[str, ...]:
    return tuple(raw.decode().split("\n")) if raw else ()


async def cached_listing(
    cache: Cache,
    key: str,
    compute: Callable[[], Awaitable[Listed]],
    *,
    ttl: float,
    stale_ttl: float | None = None,
) -> bytes:
    """Listing ``key``'s body, current for the ``listing`` generation and for each product
    in it (``compute``: the body and those products' families; see the module)."""
    answers = answers_of(cache)
    held = answers.members(key)
    names = [LISTING, ITEMS, *(held[1] if held is not None else ())]
    gens = await generations(cache, names)
    listing_gen, items_before = gens[0], gens[1]
    if held is not None and held[0] == listing_gen:
        families, member_gens = held[1], gens[2:]
    else:
        first: list[bytes] = []

        async def compute_members() -> bytes:
            body, found = await compute()
            # Stored only if no product's generation moved while it was computed (``ITEMS``
            # is bumped before any): these may already be newer than the rows read.
            after = await generations(cache, (ITEMS, *found))
            if after[0] == items_before:
                await _store(
                    cache, _body_key(listing_gen, key, found, after[1:]), body, ttl, stale_ttl
                )
            first.append(body)
            return "\n".join(found).encode()

        members_key = f"{LISTING}:{listing_gen}:{key}|members"
        raw = await get_or_compute(
            cache, members_key, compute_members, ttl=ttl, stale_ttl=stale_ttl
        )
        families = _members_of(raw)
        answers.remember(key, listing_gen, families)
        if first:
            return first[0]
        member_gens = await generations(cache, families)
    full = _body_key(listing_gen, key, families, member_gens)
    body = answers.get(full)
    if body is None:

        async def compute_body() -> bytes:
            return (await compute())[0]

        body = await get_or_compute(cache, full, compute_body, ttl=ttl, stale_ttl=stale_ttl)
        answers.put(full, body, ttl)
    return body


async def _store(cache: Cache, full: str, body: bytes, ttl: float, stale_ttl: float | None) -> None:
    await put(cache, full, body, ttl=ttl, stale_ttl=stale_ttl)
    answers_of(cache).put(full, body, ttl)
