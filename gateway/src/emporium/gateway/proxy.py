"""The proxy: ``/api/v1/{path}`` -> route table -> auth -> rate limit -> cache or upstream.

Bodies stream both ways: the request body is sent upstream as it arrives, the answer is
passed on chunk by chunk as the service writes it (an SSE stream stays live). A pause
between two chunks longer than the upstream's timeout cuts an ordinary answer; an event
stream (``text/event-stream``) may stay quiet as long as it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from fastapi import APIRouter, Request
from opentelemetry.trace import SpanKind
from starlette.responses import Response, StreamingResponse

from emporium.gateway.auth import authorize
from emporium.gateway.errors import RouteNotFound
from emporium.gateway.headers import request_headers, response_headers
from emporium.gateway.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from emporium.gateway.response_cache import ResponseCache
from emporium.gateway.routes import API_PREFIX, Route, match
from emporium.gateway.settings import Settings
from emporium.gateway.upstreams import Body, Upstream, Upstreams
from emporium.kit.app import Resources, get_resources
from emporium.kit.auth import Principal, TokenVerifier
from emporium.kit.errors import TooManyRequests
from emporium.kit.logs import current_request_id
from emporium.kit.metrics import GATEWAY_RATE_LIMITED
from emporium.kit.tracing import current_context, tracer

__all__ = ["Gateway", "gateway_lifespan", "router"]

log = logging.getLogger("emporium.gateway.proxy")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class _RouteLabel:
    # What the kit's middleware reads from scope["route"] for metrics and span names:
    # the route table's entry, not the catch-all path (one series per public prefix).
    path_format: str


class Gateway:
    """What the proxy needs, made once in the lifespan."""

    def __init__(
        self,
        settings: Settings,
        upstreams: Upstreams,
        verifier: TokenVerifier,
        limiter: RateLimiter | None,
        response_cache: ResponseCache | None,
    ) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.verifier = verifier
        self.limiter = limiter
        self.response_cache = response_cache

    async def handle(self, request: Request) -> Response:
        path = request.url.path.removeprefix(API_PREFIX) or "/"
        method = request.method
        route = match(path, method)
        if route is None:
            raise RouteNotFound(f"there is no API path {API_PREFIX}{path} for {method}")
        request.scope["route"] = _RouteLabel(API_PREFIX + route.prefix)
        principal = await authorize(route, request.headers, self.verifier)
        decision = await self._limit(request, path, principal)
        limit_headers = decision.headers() if decision is not None else {}
        if decision is not None and not decision.allowed:
            GATEWAY_RATE_LIMITED.labels(bucket=_bucket(path)).inc()
            raise TooManyRequests(
                "too many requests; slow down",
                retry_after=decision.reset_seconds,
                headers=limit_headers,
            )
        # As the client encoded it (``%2F`` stays ``%2F``), without the version prefix.
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"").decode("latin-1")
        target = raw_path.decode("latin-1").removeprefix(API_PREFIX) + (
            "?" + query if query else ""
        )
        if (
            self.response_cache is not None
            and route.cache
            and method == "GET"
            and "authorization" not in request.headers
        ):
            cache = self.response_cache
            response = await cache.serve(
                target,
                request.headers,
                lambda: self._send(
                    route, request, target, drop=("accept-encoding", "if-none-match")
                ),
            )
        else:
            response = self._stream(await self._send(route, request, target), route)
            if (
                route.invalidates
                and self.response_cache is not None
                and method in _WRITES
                and 200 <= response.status_code < 300
            ):
                await self.response_cache.invalidate()
        response.headers.update(limit_headers)
        return response

    async def _limit(self, request: Request, path: str, who: Principal | None) -> Decision | None:
        if self.limiter is None:
            return None
        settings = self.settings
        ip = request.client.host if request.client else "unknown"
        if _bucket(path) == "auth":
            key, limit = f"auth:ip:{ip}", settings.rate_limit_auth
        elif who is not None:
            key, limit = f"api:customer:{who.subject}", settings.rate_limit_customer
        else:
            key, limit = f"api:ip:{ip}", settings.rate_limit_anonymous
        return await self.limiter.hit(key, limit=limit, window=settings.rate_limit_window_seconds)

    async def _send(
        self, route: Route, request: Request, target: str, drop: tuple[str, ...] = ()
    ) -> aiohttp.ClientResponse:
        upstream = self.upstreams[route.upstream]
        method = request.method
        body = Body(request.stream()) if _has_body(request) else None
        with tracer("emporium.gateway").start_as_current_span(
            f"{method} {route.upstream}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "emporium.upstream": route.upstream},
        ):
            headers = request_headers(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                client_ip=request.client.host if request.client else None,
                scheme=request.url.scheme,
                host=request.headers.get("host"),
                request_id=current_request_id(),
                trace=current_context(),
                drop=drop,
            )
            return await upstream.send(method, target, headers, body)

    def _stream(self, answer: aiohttp.ClientResponse, route: Route) -> Response:
        upstream = self.upstreams[route.upstream]
        headers = response_headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers]
        )
        live = answer.content_type == "text/event-stream"
        response = StreamingResponse(_relay(answer, upstream, live), status_code=answer.status)
        response.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
        ]
        return response


async def _relay(
    answer: aiohttp.ClientResponse, upstream: Upstream, live: bool
) -> AsyncIterator[bytes]:
    """The answer's body as it arrives; the connection goes back to the pool when done."""
    try:
        while True:
            if live:
                chunk = await answer.content.readany()
            else:
                async with asyncio.timeout(upstream.timeout):
                    chunk = await answer.content.readany()
            if not chunk:
                break
            yield chunk
        answer.release()
    except (TimeoutError, aiohttp.ClientError) as error:
        # Headers are sent: too late for a problem; the client sees the connection cut.
        log.warning("%s: answer cut midway: %r", upstream.name, error)
        raise
    finally:
        answer.close()  # a no-op after release(); drops a half-read connection


def _bucket(path: str) -> str:
    return "auth" if path == "/auth" or path.startswith("/auth/") else "api"


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


router = APIRouter(include_in_schema=False)


@router.api_route(API_PREFIX + "/{path:path}", methods=_METHODS)
async def proxy(request: Request) -> Response:
    """Every public API call goes through here."""
    return await get_resources(request).get(Gateway).handle(request)


@contextlib.asynccontextmanager
async def gateway_lifespan(resources: Resources) -> AsyncIterator[Gateway]:
    """Builds the ``Gateway`` (after the upstreams and the token verifier exist)."""
    settings = resources.settings
    assert isinstance(settings, Settings)
    cache = resources.require_cache()
    limiter: RateLimiter | None = None
    if settings.rate_limit_enabled:
        from emporium.kit.cache.redis_cache import RedisCache

        if isinstance(cache, RedisCache):
            limiter = RedisRateLimiter(cache.client, prefix=f"{cache.namespace}:ratelimit:")
        else:
            limiter = MemoryRateLimiter()
    response_cache = (
        ResponseCache(cache, ttl=settings.response_cache_seconds)
        if settings.response_cache_seconds > 0
        else None
    )
    gateway = Gateway(
        settings,
        resources.get(Upstreams),
        resources.get(TokenVerifier),
        limiter,
        response_cache,
    )
    resources.put(gateway)
    yield gateway
