"""The response cache: anonymous catalog GETs answered from Redis, with ETag / 304.

An answer is stored as ready bytes: the headers it is served with (``ETag`` included) and
the body, so a hit is one Redis GET (made by the request's one script, ``front.py``) and
bytes out: nothing is decoded or re-encoded. Entries live ``ttl`` seconds (less up to a
tenth, at random, so a burst of stores does not expire in one second) and carry the
catalog's cache families (``families_of``): the catalog announces the families a commit made
stale (``invalidation.py``) and the gateway drops exactly those answers within
milliseconds, so stock reserved by the checkout saga shows at once; a catalog write made
through the gateway drops them too. ``Cache-Control: public, no-cache``: a browser may keep
an answer but asks again (``If-None-Match``, a 304 from the cache) before using it, so it
never shows availability older than the gateway's.

Only routes the route table marks ``cache`` come here, and only their 200 JSON answers
without ``Set-Cookie`` are stored, uncompressed (the upstream is asked without
``Accept-Encoding``), up to ``MAX_ENTRY_BYTES``. Concurrent misses of one key in a process
make one upstream call (single flight): the others wait for its answer, whatever it is.
``ETag`` is a hash of the body; a matching ``If-None-Match`` gets 304 without a body.

A listing answer (``/products?...``: the ``listing`` family) shows products, and a change
of one of them must drop it while a stock change that moves no product in or out of
stock drops nothing else (the catalog then announces only ``product:<id>``). So a
listing answer is indexed under the family of every product in its ``items`` as well
(``listing_families``, read from the body when it is fetched; the same ids the catalog's
own listing cache tracks), and those families are written into the stored entry (a line
that is never sent as a header), so a process that keeps an in-process copy of an entry
it read from Redis indexes it the same way. Nothing about it crosses to the client.

In front of Redis, each gateway process keeps the answers it served, parsed and ready
(``local_answers.py``, bounded): a hit found there asks Redis nothing. ``invalidate`` drops
the in-process copies as well, before and after Redis's, so an answer read from Redis just
before the drop is not kept past it; the answers dropped from this process are then fetched
again in the background (``refresh.py``), so the next request for them is a hit; so are
the answers still asked for in their last seconds, before they expire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from starlette.responses import Response

from emporium.gateway.answers import MemoryAnswers, RedisAnswers
from emporium.gateway.headers import response_headers
from emporium.gateway.local_answers import LocalAnswers, Ready

__all__ = [
    "MAX_ENTRY_BYTES",
    "TTL_SPREAD",
    "ResponseCache",
    "etag_matches",
    "families_of",
    "listing_families",
    "plain_response",
    "ready_of",
    "serve_ready",
    "write_families",
]

MAX_ENTRY_BYTES = 1024 * 1024
#: A stored answer lives ``ttl`` less up to this share of it, drawn per answer.
TTL_SPREAD = 0.1
CACHE_CONTROL = b"public, no-cache"
_KEPT = ("content-type", "content-language")
_HIT = (b"x-cache", b"HIT")
_MISS = (b"x-cache", b"MISS")
_DROPPED_ON_304 = frozenset({b"content-type", b"content-language"})
_DROPPED_304_LOCAL = _DROPPED_ON_304 | {b"content-length"}
LISTING = "listing"
CATEGORIES = "categories"
# The entry's line naming its families beyond its path's (never a header: see ``_parse``).
_FAMILIES = b"~families"


class ReadyResponse(Response):
    """A response whose raw headers and body are already final (no re-encoding)."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        if status < 200 or status in (204, 304):
            self.raw_headers = raw_headers  # no body, and no length to announce
        else:
            self.raw_headers = [*raw_headers, (b"content-length", str(len(body)).encode())]


def plain_response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    """A response with exactly these headers (repeated ones kept) and ``body``."""
    raw = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers
        if k.lower() != "content-length"
    ]
    return ReadyResponse(status, raw, body)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def families_of(segments: Sequence[str]) -> tuple[str, ...]:
    """The catalog cache families an answer of this public path belongs to."""
    if segments and segments[0] == "categories":
        return (CATEGORIES,)
    if len(segments) >= 2 and segments[0] == "products":
        return (f"product:{_canonical_id(segments[1])}",)
    return (LISTING,)


def listing_families(body: bytes) -> tuple[str, ...]:
    """The families of the products a listing answer shows (its ``items``' ids, canonical);
    nothing for a body that is not such a page."""
    try:
        page = json.loads(body)
    except ValueError:
        return ()
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        return ()
    found: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            try:
                found[f"product:{uuid.UUID(item['id'])}"] = None
            except ValueError:
                continue
    return tuple(found)


def write_families(segments: Sequence[str]) -> tuple[str, ...]:
    """The families a successful admin write to this public path makes stale."""
    if len(segments) >= 2 and segments[:2] == ("admin", "categories"):
        return (CATEGORIES, LISTING)
    # A stock write moves a listing only when its product goes in or out of stock, which
    # the catalog knows and announces (``invalidation.py``); here only what it surely hits.
    if len(segments) == 4 and segments[:2] == ("admin", "products") and segments[3] == "stock":
        return (f"product:{_canonical_id(segments[2])}",)
    if len(segments) >= 4 and segments[:2] == ("admin", "variants") and segments[3] == "stock":
        return ()  # the path names no product: the catalog's announcement says which
    if len(segments) >= 3 and segments[:2] == ("admin", "products"):
        return (LISTING, f"product:{_canonical_id(segments[2])}")
    return (LISTING,)


def _canonical_id(segment: str) -> str:
    # The catalog reads any spelling of a UUID and names the family by the canonical one.
    try:
        return str(uuid.UUID(segment))
    except ValueError:
        return segment


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


@dataclass(frozen=True, slots=True)
class _Fetched:
    """The upstream's answer, read whole; ``entry`` when it was cacheable."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    entry: bytes | None


def _entry(headers: list[tuple[str, str]], body: bytes, families: Sequence[str] = ()) -> bytes:
    kept = [(k.lower(), v) for k, v in headers if k.lower() in _KEPT]
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    lines = [f"{name}:{value}" for name, value in (*kept, ("etag", etag))]
    if families:
        lines.append(f"{_FAMILIES.decode()}:{','.join(families)}")
    return "\n".join(lines).encode("latin-1") + b"\n\n" + body


def _parse_all(entry: bytes) -> tuple[list[tuple[bytes, bytes]], bytes, bytes, tuple[str, ...]]:
    """(raw headers, etag, body, families named in it) of a stored entry."""
    head, _, body = entry.partition(b"\n\n")
    raw: list[tuple[bytes, bytes]] = []
    etag = b""
    families: tuple[str, ...] = ()
    for line in head.split(b"\n"):
        name, _, value = line.partition(b":")
        if name == _FAMILIES:
            families = tuple(value.decode("latin-1").split(","))
            continue
        raw.append((name, value))
        if name == b"etag":
            etag = value
    return raw, etag, body, families


def _parse(entry: bytes) -> tuple[list[tuple[bytes, bytes]], bytes, bytes]:
    """(raw headers, etag, body) of a stored entry."""
    raw, etag, body, _ = _parse_all(entry)
    return raw, etag, body


class ResponseCache:
    """Serves cacheable GETs from stored ``answers`` (and their in-process copies,
    ``local``); ``fetch`` asks the upstream on a miss."""

    def __init__(
        self,
        answers: RedisAnswers | MemoryAnswers,
        *,
        ttl: int,
        local: LocalAnswers | None = None,
    ) -> None:
        self.answers = answers
        self.ttl = ttl
        self.local = local
        self._flights: dict[str, asyncio.Task[_Fetched]] = {}
        #: Told what an invalidation dropped from this process (``refresh.py``): the raw
        #: targets, the invalidation's number and the local copies' generation after it.
        self.refresh: Callable[[list[bytes], int, int], None] | None = None

    def key(self, path_and_query: str) -> str:
        """The storage key of an encoded path and query."""
        return self.answers.key(hashlib.sha256(path_and_query.encode()).hexdigest()[:40])

    async def invalidate(self, families: Sequence[str]) -> int:
        """Drop the stored answers of ``families`` (in Redis and here); how many went."""
        local = self.local
        if local is None:
            return (await self.answers.invalidate(families)).answers
        dropped = local.drop(families)
        try:
            done = await self.answers.invalidate(families)
        finally:
            # Again: a request may have read Redis's copy while it was being dropped.
            dropped += local.drop(families)
        if dropped and self.refresh is not None:
            self.refresh(dropped, done.seq, local.generation)
        return done.answers

    def hit(self, entry: bytes, if_none_match: str | None) -> Response:
        """The answer to serve from a stored ``entry``."""
        return _serve(entry, if_none_match, _HIT)

    def keep(
        self,
        local_key: bytes,
        entry: bytes,
        families: tuple[str, ...],
        expires: float,
        generation: int,
    ) -> Ready | None:
        """Keep a stored ``entry`` in this process (unless dropped since ``generation``)."""
        local = self.local
        if local is None or not local.enabled:
            return None
        ready = ready_of(entry, families, expires)
        return ready if local.put(local_key, ready, generation) else None

    async def miss(
        self,
        key: str,
        families: Sequence[str],
        seq: int,
        if_none_match: str | None,
        fetch: Callable[[], Awaitable[aiohttp.ClientResponse]],
        local_key: bytes | None = None,
        generation: int = 0,
    ) -> Response:
        """Fetch (once for every concurrent miss of ``key``), store if cacheable, serve;
        kept here too under ``local_key`` unless dropped since ``generation``."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(
                self._fill(key, families, seq, fetch, local_key, generation)
            )
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: a caller that leaves (client gone) does not cancel the others' fetch.
        fetched = await asyncio.shield(flight)
        if fetched.entry is None:
            return plain_response(fetched.status, fetched.headers, fetched.body)
        return _serve(fetched.entry, if_none_match, _MISS)

    def _landed(self, key: str, flight: asyncio.Task[_Fetched]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved, even when every waiter left

    async def _fill(
        self,
        key: str,
        families: Sequence[str],
        seq: int,
        fetch: Callable[[], Awaitable[aiohttp.ClientResponse]],
        local_key: bytes | None = None,
        generation: int = 0,
    ) -> _Fetched:
        upstream = await fetch()
        try:
            body = await upstream.read()
        finally:
            upstream.release()
        headers = response_headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in upstream.raw_headers]
        )
        names = {name.lower() for name, _ in headers}
        if (
            upstream.status != 200
            or not _is_json(upstream.content_type)
            or "set-cookie" in names
            or len(body) > MAX_ENTRY_BYTES
        ):
            return _Fetched(upstream.status, headers, body, None)
        shown = listing_families(body) if LISTING in families else ()
        entry = _entry(headers, body, shown)
        every = (*families, *(f for f in shown if f not in families))
        # Up to a tenth shorter, at random: answers stored in one burst (a cold cache under
        # a crowd) do not all expire in the same second. Never longer than ``ttl``.
        ttl = self.ttl * (1.0 - TTL_SPREAD * random.random())
        stored = await self.answers.store(key, entry, ttl=ttl, families=every, seq=seq)
        if stored and local_key is not None:
            self.keep(local_key, entry, tuple(families), time.monotonic() + ttl, generation)
        return _Fetched(200, headers, body, entry)


def ready_of(entry: bytes, families: tuple[str, ...], expires: float) -> Ready:
    """A stored ``entry`` parsed once into the headers and body a hit sends, indexed under
    ``families`` and those the entry names (a listing's products)."""
    raw, etag, body, shown = _parse_all(entry)
    families = (*families, *(f for f in shown if f not in families))
    raw += [
        (b"cache-control", CACHE_CONTROL),
        _HIT,
        (b"content-length", str(len(body)).encode()),
    ]
    size = len(body) + sum(len(k) + len(v) for k, v in raw)
    return Ready(raw, etag.decode("latin-1"), body, expires, families, size)


def serve_ready(ready: Ready, if_none_match: str | None) -> Response:
    """The answer to a hit found in this process."""
    if if_none_match and etag_matches(if_none_match, ready.etag):
        kept = [h for h in ready.raw_headers if h[0] not in _DROPPED_304_LOCAL]
        return ReadyResponse(304, kept, b"")
    response = Response.__new__(ReadyResponse)
    response.status_code = 200
    response.body = ready.body
    response.background = None
    response.raw_headers = list(ready.raw_headers)  # a copy: middleware appends to it
    return response


def _serve(entry: bytes, if_none_match: str | None, x_cache: tuple[bytes, bytes]) -> Response:
    raw, etag, body = _parse(entry)
    raw.append((b"cache-control", CACHE_CONTROL))
    raw.append(x_cache)
    if if_none_match and etag_matches(if_none_match, etag.decode("latin-1")):
        return ReadyResponse(304, [h for h in raw if h[0] not in _DROPPED_ON_304], b"")
    return ReadyResponse(200, raw, body)
