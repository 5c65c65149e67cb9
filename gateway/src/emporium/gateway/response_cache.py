"""The response cache: anonymous catalog GETs answered from Redis, with ETag / 304.

Entries live ``ttl`` seconds in the ``catalog`` generation of the gateway's cache
(``Cache.versioned``). A catalog write made through the gateway (``/admin/products``,
``/admin/categories``) bumps the generation, so the admin sees the change at once. Changes
the gateway does not see - stock reserved by the checkout saga, for instance - show after
at most ``ttl`` seconds (10 by default): availability on a listing may be that stale.
Subscribing to ``catalog.events`` would make it exact, at the price of a Kafka consumer in
the gateway; the short TTL was chosen instead.

Only routes the route table marks ``cache`` come here, and only their 200 JSON answers
without ``Set-Cookie`` are stored, uncompressed (the upstream is asked
without ``Accept-Encoding``), up to ``MAX_ENTRY_BYTES``. Concurrent misses of one key are
computed once (``get_or_compute``). ``ETag`` is a hash of the body; a matching
``If-None-Match`` gets 304 without a body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

import aiohttp
from starlette.datastructures import Headers
from starlette.responses import Response

from emporium.gateway.headers import response_headers
from emporium.kit.cache import Cache, get_or_compute

__all__ = ["MAX_ENTRY_BYTES", "ResponseCache", "etag_matches", "plain_response"]

MAX_ENTRY_BYTES = 1024 * 1024
_KEPT = ("content-type", "content-language")


def plain_response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    """A response with exactly these headers (repeated ones kept) and ``body``."""
    response = Response(content=body, status_code=status)
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    response.raw_headers = [
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in kept),
        *((k, v) for k, v in response.raw_headers if k == b"content-length"),
    ]
    return response


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class _Uncacheable(Exception):
    """The upstream's answer, to be served but not stored."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


async def _read(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    finally:
        response.release()


class ResponseCache:
    """Serves cacheable GETs from ``cache``; ``fetch`` asks the upstream on a miss."""

    def __init__(self, cache: Cache, *, ttl: int, family: str = "catalog") -> None:
        self.cache = cache
        self.ttl = ttl
        self.family = family

    async def invalidate(self) -> None:
        """Make every stored answer of the family stale (a catalog write went through)."""
        await self.cache.bump(self.family)

    async def serve(
        self,
        path_and_query: str,
        request_headers: Headers,
        fetch: Callable[[], Awaitable[aiohttp.ClientResponse]],
    ) -> Response:
        digest = hashlib.sha256(path_and_query.encode()).hexdigest()[:40]
        key = await self.cache.versioned(self.family, f"resp:{digest}")
        computed = False

        async def compute() -> bytes:
            nonlocal computed
            computed = True
            upstream = await fetch()
            body = await _read(upstream)
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
                raise _Uncacheable(upstream.status, headers, body)
            kept = [[k, v] for k, v in headers if k.lower() in _KEPT]
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            meta = json.dumps({"headers": kept, "etag": etag}).encode()
            return meta + b"\n" + body

        try:
            entry = await get_or_compute(self.cache, key, compute, ttl=self.ttl)
        except _Uncacheable as answer:
            return plain_response(answer.status, answer.headers, answer.body)
        meta_line, _, body = entry.partition(b"\n")
        meta = json.loads(meta_line)
        etag: str = meta["etag"]
        headers = [
            *((str(k), str(v)) for k, v in meta["headers"]),
            ("ETag", etag),
            ("Cache-Control", f"public, max-age={self.ttl}"),
            ("X-Cache", "MISS" if computed else "HIT"),
        ]
        if etag_matches(request_headers.get("if-none-match"), etag):
            not_modified = [(k, v) for k, v in headers if k.lower() != "content-type"]
            return plain_response(304, not_modified, b"")
        return plain_response(200, headers, body)
