"""The proxy: ``/api/v1/{path}`` -> canonical target -> route table -> auth -> rate limit ->
cache or upstream.

The request target is parsed once (``target.py``, from the raw bytes): routing, rate-limit
buckets, the cache key and the upstream URL all use that canonical form, so what the route
table matched is exactly what the service receives, and nothing a client sends can change
the upstream's scheme, host or port. The client is resolved once too (``client.py``).

Bodies stream both ways: the request body is sent upstream as it arrives, the answer is
passed on chunk by chunk as the service writes it. A pause between two chunks longer than
the upstream's timeout cuts an ordinary answer. Event streams (``GET /orders/{id}/events``)
have a pool of their own, a cap per customer and a bounded life (``relay.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from fastapi import APIRouter, Request
from opentelemetry.trace import SpanKind
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from emporium.gateway.auth import authorize
from emporium.gateway.client import Client, resolve_client
from emporium.gateway.errors import BadGateway, RouteNotFound, TooManyStreams
from emporium.gateway.headers import request_headers, response_headers
from emporium.gateway.ratelimit import Decision, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from emporium.gateway.redirects import internal_redirect
from emporium.gateway.relay import StreamPolicy, relay, stream_ends_in, watched_relay
from emporium.gateway.response_cache import ResponseCache
from emporium.gateway.routes import API_PREFIX, Route, is_event_stream, match
from emporium.gateway.settings import Settings
from emporium.gateway.stream_slots import (
    Lease,
    MemoryStreamSlots,
    RedisStreamSlots,
    StreamSlots,
)
from emporium.gateway.target import Target, target_of
from emporium.gateway.upstreams import Body, Upstreams
from emporium.kit.app import Resources, get_resources
from emporium.kit.auth import Principal, TokenVerifier
from emporium.kit.errors import ServiceUnavailable, TooManyRequests, Unauthorized, Unprocessable
from emporium.kit.logs import current_request_id
from emporium.kit.metrics import GATEWAY_RATE_LIMITED
from emporium.kit.tracing import current_context, tracer

__all__ = ["Gateway", "gateway_lifespan", "router"]

log = logging.getLogger("emporium.gateway.proxy")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The largest ``Last-Event-ID`` the gateway passes on (orders numbers events from 1).
MAX_EVENT_ID = 2**63 - 1


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
        streams: StreamSlots | None = None,
    ) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.verifier = verifier
        self.limiter = limiter
        self.response_cache = response_cache
        self.streams = streams or MemoryStreamSlots(lease_seconds=_lease_seconds(settings))
        self.trusted = settings.trusted_networks()

    async def handle(self, request: Request) -> Response:
        scope = request.scope
        target = target_of(scope)
        method = request.method
        if not target.starts_with("api", "v1"):
            raise RouteNotFound(f"there is no API path {target.path} for {method}")
        public = Target(target.segments[2:], target.query)  # without /api/v1
        route = match(public.path, method)
        if route is None:
            raise RouteNotFound(f"there is no API path {target.path} for {method}")
        scope["route"] = _RouteLabel(API_PREFIX + route.prefix)
        client = resolve_client(
            request.client.host if request.client else None,
            _text_headers(request),
            scheme=request.url.scheme,
            host=request.headers.get("host"),
            trusted=self.trusted,
        )
        principal = await authorize(route, request.headers, self.verifier)
        decision = await self._limit(public.path, client.ip, principal)
        limit_headers = decision.headers() if decision is not None else {}
        if decision is not None and not decision.allowed:
            GATEWAY_RATE_LIMITED.labels(bucket=_bucket(public.path)).inc()
            raise TooManyRequests(
                "too many requests; slow down",
                retry_after=decision.reset_seconds,
                headers=limit_headers,
            )
        path, query = public.encoded_path(), public.encoded_query()
        if is_event_stream(public.segments, method) and principal is not None:
            response = await self._event_stream(route, request, client, principal, path, query)
        elif (
            self.response_cache is not None
            and route.cache
            and method == "GET"
            and "authorization" not in request.headers
        ):
            cache = self.response_cache
            response = await cache.serve(
                path + ("?" + query if query else ""),
                request.headers,
                lambda: self._send(
                    route, request, client, path, query, drop=("accept-encoding", "if-none-match")
                ),
            )
        else:
            response = self._answer(await self._send(route, request, client, path, query), route)
            if (
                route.invalidates
                and self.response_cache is not None
                and method in _WRITES
                and 200 <= response.status_code < 300
            ):
                await self.response_cache.invalidate()
        response.headers.update(limit_headers)
        return response

    async def _limit(self, path: str, ip: str, who: Principal | None) -> Decision | None:
        if self.limiter is None:
            return None
        settings = self.settings
        if _bucket(path) == "auth":
            key, limit = f"auth:ip:{ip}", settings.rate_limit_auth
        elif who is not None:
            key, limit = f"api:customer:{who.subject}", settings.rate_limit_customer
        else:
            key, limit = f"api:ip:{ip}", settings.rate_limit_anonymous
        return await self.limiter.hit(key, limit=limit, window=settings.rate_limit_window_seconds)

    async def _send(
        self,
        route: Route,
        request: Request,
        client: Client,
        path: str,
        query: str,
        drop: tuple[str, ...] = (),
        *,
        stream: bool = False,
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
                _text_headers(request),
                client_ip=client.ip,
                scheme=client.scheme,
                host=client.host,
                request_id=current_request_id(),
                trace=current_context(),
                drop=drop,
            )
            answer = await upstream.send(method, path, headers, body, query=query, stream=stream)
        redirect = internal_redirect(
            answer.status, answer.headers.get("location"), upstream=upstream.base, path=path
        )
        if redirect is not None:
            answer.release()
            if redirect == "slash":
                raise RouteNotFound(f"there is no API path {API_PREFIX}{path} for {method}")
            log.warning("%s: redirect into the service itself, not passed on", upstream.name)
            raise BadGateway(
                f"the {upstream.name} service answered with a redirect to itself",
                upstream=upstream.name,
            )
        return answer

    def _answer(self, answer: aiohttp.ClientResponse, route: Route) -> Response:
        upstream = self.upstreams[route.upstream]
        return _streaming(answer, relay(answer, upstream.name, upstream.timeout))

    async def _event_stream(
        self,
        route: Route,
        request: Request,
        client: Client,
        principal: Principal,
        path: str,
        query: str,
    ) -> Response:
        settings = self.settings
        _check_last_event_id(request.headers.get("last-event-id"))
        lease = await self.streams.acquire(
            str(principal.subject), limit=settings.streams_per_customer
        )
        if lease is None:
            raise TooManyStreams(
                f"at most {settings.streams_per_customer} event streams may be open at once;"
                " close one first",
                retry_after=max(1, math.ceil(settings.stream_check_seconds)),
                limit=settings.streams_per_customer,
            )
        try:
            answer = await self._send(route, request, client, path, query, stream=True)
        except BaseException:
            await lease.release()
            raise
        expires_in = (principal.expires_at - datetime.now(UTC)).total_seconds()
        policy = StreamPolicy(
            lifetime=stream_ends_in(settings.stream_max_seconds, expires_in),
            check_seconds=settings.stream_check_seconds,
            still_allowed=lambda: self._still_valid(principal),
        )
        response = _streaming(answer, watched_relay(answer, route.upstream, policy, lease))
        # Also when the body never started (the client left first): both are idempotent.
        response.background = BackgroundTask(_let_go, answer, lease)
        return response

    async def _still_valid(self, principal: Principal) -> bool:
        try:
            await self.verifier.verify(principal.token)
        except Unauthorized:
            return False  # expired, or revoked by a sign-out
        except ServiceUnavailable:
            return True  # cannot tell right now; the lifetime still bounds the stream
        return True


async def _let_go(answer: aiohttp.ClientResponse, lease: Lease) -> None:
    answer.close()
    await lease.release()


def _streaming(answer: aiohttp.ClientResponse, body: AsyncIterator[bytes]) -> Response:
    headers = response_headers(
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers]
    )
    response = StreamingResponse(body, status_code=answer.status)
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


def _check_last_event_id(value: str | None) -> None:
    """``Last-Event-ID`` is the number of the last event seen: digits, at most ``MAX_EVENT_ID``."""
    if value is None or value.strip() == "":
        return
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_EVENT_ID:
        raise Unprocessable(
            f"Last-Event-ID must be a whole number from 0 to {MAX_EVENT_ID}",
            field="header.Last-Event-ID",
        )


def _text_headers(request: Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]


def _lease_seconds(settings: Settings) -> float:
    # Renewed at every check: a few checks may be missed before a lease runs out.
    return max(30.0, 3 * settings.stream_check_seconds)


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
    from emporium.kit.cache.redis_cache import RedisCache

    limiter: RateLimiter | None = None
    if settings.rate_limit_enabled:
        if isinstance(cache, RedisCache):
            limiter = RedisRateLimiter(cache.client, prefix=f"{cache.namespace}:ratelimit:")
        else:
            limiter = MemoryRateLimiter()
    response_cache = (
        ResponseCache(cache, ttl=settings.response_cache_seconds)
        if settings.response_cache_seconds > 0
        else None
    )
    streams: StreamSlots
    if isinstance(cache, RedisCache):
        streams = RedisStreamSlots(
            cache.client,
            lease_seconds=_lease_seconds(settings),
            prefix=f"{cache.namespace}:streams:",
        )
    else:
        streams = MemoryStreamSlots(lease_seconds=_lease_seconds(settings))
    gateway = Gateway(
        settings,
        resources.get(Upstreams),
        resources.get(TokenVerifier),
        limiter,
        response_cache,
        streams,
    )
    resources.put(gateway)
    yield gateway
