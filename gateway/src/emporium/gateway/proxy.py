"""The proxy: ``/api/v1/{path}`` -> canonical target -> route table -> auth -> rate limit ->
cache or upstream.

The request target is parsed once (``target.py``, from the raw bytes): routing, rate-limit
buckets, the cache key and the upstream URL all use that canonical form, so what the route
table matched is exactly what the service receives, and nothing a client sends can change
the upstream's scheme, host or port. The client is resolved once too (``client.py``).

The request body is sent upstream as it arrives. A small answer (a ``Content-Length`` up
to ``relay.WHOLE_BYTES``) is read whole and sent as one body; a larger or unsized one is
passed on chunk by chunk as the service writes it, and a pause between two chunks longer
than the upstream's timeout cuts it. Event streams (``GET /orders/{id}/events``)
have a pool of their own, a cap per customer and a bounded life (``relay.py``).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from redis.exceptions import RedisError
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.gateway.answers import MemoryAnswers, RedisAnswers
from emporium.gateway.auth import RevocationChecks, VerifiedTokens, authorize
from emporium.gateway.batched_limits import BATCHED_PREFIXES, BatchedRateLimiter, flushing
from emporium.gateway.bodies import has_body, is_upload
from emporium.gateway.client import Client, peer_of, resolve_client
from emporium.gateway.errors import BadGateway, RouteNotFound, TooManyStreams
from emporium.gateway.front import Ask, Front, FrontAnswer, MemoryFront, RedisFront
from emporium.gateway.headers import raw_response_headers, request_headers
from emporium.gateway.invalidation import StaleListener, listening, listening_locally
from emporium.gateway.local_answers import LocalAnswers
from emporium.gateway.outage import Outage
from emporium.gateway.ratelimit import MemoryRateLimiter
from emporium.gateway.redirects import internal_redirect
from emporium.gateway.refresh import AnswerRefresher
from emporium.gateway.relay import (
    WHOLE_BYTES,
    StreamPolicy,
    read_whole,
    relay,
    stream_ends_in,
    watched_relay,
)
from emporium.gateway.response_cache import (
    ResponseCache,
    families_of,
    serve_ready,
    write_families,
)
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
from emporium.kit.auth.denylist import CacheDenylist
from emporium.kit.errors import ServiceUnavailable, TooManyRequests, Unauthorized, Unprocessable
from emporium.kit.logs import current_request_id
from emporium.kit.metrics import GATEWAY_RATE_LIMITED
from emporium.kit.tracing import client_span, current_context

__all__ = ["CachedHitMiddleware", "Gateway", "gateway_lifespan", "router"]

log = logging.getLogger("emporium.gateway.proxy")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_METHODS_SET = frozenset(_METHODS)
_API_SLASH = API_PREFIX + "/"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The largest ``Last-Event-ID`` the gateway passes on (orders numbers events from 1).
MAX_EVENT_ID = 2**63 - 1
_NOTHING_ASKED = FrontAnswer(None, None, False, 0)


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
        front: Front,
        response_cache: ResponseCache | None,
        streams: StreamSlots | None = None,
        limiter: BatchedRateLimiter | None = None,
        revocations: RevocationChecks | None = None,
    ) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.verifier = verifier
        self.tokens = VerifiedTokens(verifier, max_entries=settings.token_cache_entries)
        self.front = front
        self.response_cache = response_cache
        self.streams = streams or MemoryStreamSlots(lease_seconds=_lease_seconds(settings))
        self.trusted = settings.trusted_networks()
        self.limiter = limiter
        self.revocations = revocations

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
        headers = request.headers
        client = self._client(scope, headers)
        caller = await authorize(route, headers, self.tokens)
        principal = caller.principal if caller is not None else None
        cache = self.response_cache
        path, query = public.encoded_path(), public.encoded_query()
        local_key = None
        entry_key = None
        if cache is not None and route.cache and method == "GET" and "authorization" not in headers:
            local_key = _local_key(scope)
        recheck = caller.principal.token_id if caller is not None and caller.recheck else None
        limit_key, limit, window = self._limit(public.path, client.ip, principal)
        batched = self.limiter if limit_key and limit_key.startswith(BATCHED_PREFIXES) else None
        now = time.monotonic()
        local = cache.local if cache is not None else None
        generation = local.generation if local is not None else 0
        ready = None
        if local_key is not None and local is not None and local.enabled:
            ready = local.get(local_key, now)  # found: nothing to ask Redis
        if cache is not None and local_key is not None and ready is None:
            entry_key = cache.key(path + "?" + query if query else path)
        asked_limit = None if batched is not None else limit_key
        front = _NOTHING_ASKED
        revoked = False
        if recheck and not (asked_limit or entry_key) and self.revocations is not None:
            # Nothing else to ask Redis: asked with the other requests' checks, together.
            revoked = await self.revocations.revoked(recheck)
        elif asked_limit or entry_key or recheck:
            # One Redis round trip: the rate-limit window, the cached answer, the revocation.
            front = await self.front.ask(Ask(asked_limit, limit, window, entry_key, recheck))
            revoked = front.revoked
        if revoked and caller is not None:
            self.tokens.forget(caller.principal.token)
            if route.auth != "anonymous":
                raise Unauthorized("the access token was revoked")
            principal = None  # a public call: as without the token (the service judges it)
        decision = front.decision
        if batched is not None and limit_key is not None:
            decision = batched.hit(limit_key, limit=limit, window=window, now=now)
        limit_headers = decision.headers() if decision is not None else {}
        if decision is not None and not decision.allowed:
            GATEWAY_RATE_LIMITED.labels(bucket=_bucket(public.path)).inc()
            raise TooManyRequests(
                "too many requests; slow down",
                retry_after=decision.reset_seconds,
                headers=limit_headers,
            )
        if is_event_stream(public.segments, method) and principal is not None:
            response = await self._event_stream(route, request, client, principal, path, query)
        elif ready is not None:
            response = serve_ready(ready, headers.get("if-none-match"))
            if decision is not None:
                response.raw_headers.extend(decision.raw_headers())
            return response
        elif cache is not None and entry_key is not None and local_key is not None:
            if front.entry is not None:
                kept = cache.keep(
                    local_key,
                    front.entry,
                    families_of(public.segments),
                    now + front.entry_seconds,
                    generation,
                )
                inm = headers.get("if-none-match")
                response = serve_ready(kept, inm) if kept else cache.hit(front.entry, inm)
            else:
                response = await cache.miss(
                    entry_key,
                    families_of(public.segments),
                    front.seq,
                    headers.get("if-none-match"),
                    lambda: self._send(
                        route, request, client, path, query,
                        drop=("accept-encoding", "if-none-match"),
                    ),
                    local_key,
                    generation,
                )  # fmt: skip
        else:
            answer = await self._send(route, request, client, path, query)
            response = await self._answer(answer, route)
            if (
                route.invalidates
                and cache is not None
                and method in _WRITES
                and 200 <= response.status_code < 300
            ):
                await self._invalidate(cache, write_families(public.segments))
        if limit_headers:
            response.headers.update(limit_headers)
        return response

    async def _invalidate(self, cache: ResponseCache, families: tuple[str, ...]) -> None:
        """Drop the answers a write made stale. The write is done: a Redis that fails now
        must not turn its answer into an error (a client would retry a write that
        happened). This process's copies are gone either way; the catalog announces the
        change to every gateway too, and what neither reaches expires by its TTL."""
        try:
            await cache.invalidate(families)
        except (TimeoutError, RedisError, OSError) as error:
            log.warning(
                "answers of %s not dropped after a write: Redis: %s: %s",
                ", ".join(families),
                type(error).__name__,
                error,
            )

    def serve_hit(self, scope: Scope) -> Response | None:
        """An anonymous GET's answer found in this process, with its window counted here:
        served without Redis, the router or a ``Request``. None when it is not such a hit
        (or its window would refuse it): ``handle`` then answers it in full, as always."""
        cache = self.response_cache
        local = cache.local if cache is not None else None
        if local is None or not local.enabled or scope["method"] != "GET":
            return None
        headers = Headers(scope=scope)
        if "authorization" in headers:
            return None
        target = target_of(scope)
        if not target.starts_with("api", "v1"):
            return None
        public = Target(target.segments[2:], target.query)
        route = match(public.path, "GET")
        if route is None or not route.cache or route.auth != "anonymous":
            return None
        now = time.monotonic()
        ready = local.get(_local_key(scope), now)
        if ready is None:
            return None
        limit_key, limit, window = self._limit(public.path, self._ip(scope, headers), None)
        decision = None
        if limit_key is not None:
            limiter = self.limiter
            if limiter is None or not limiter.allows(limit_key, limit=limit, now=now):
                return None
            decision = limiter.hit(limit_key, limit=limit, window=window, now=now)
        scope["route"] = _RouteLabel(API_PREFIX + route.prefix)
        response = serve_ready(ready, headers.get("if-none-match"))
        if decision is not None:
            response.raw_headers.extend(decision.raw_headers())
        return response

    def _ip(self, scope: Scope, headers: Headers) -> str:
        """The client's address (``_client(...).ip``, without the rest when untrusted)."""
        text, trusted = peer_of(scope["client"][0] if scope.get("client") else None, self.trusted)
        return self._client(scope, headers).ip if trusted else text

    def _client(self, scope: Scope, headers: Headers) -> Client:
        return resolve_client(
            # From the scope: ``request.client`` and ``request.url`` build objects per call.
            scope["client"][0] if scope.get("client") else None,
            # Decoded only if read (a trusted proxy's forwarding headers).
            ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw),
            scheme=scope.get("scheme", "http"),
            host=headers.get("host"),
            trusted=self.trusted,
        )

    def _limit(self, path: str, ip: str, who: Principal | None) -> tuple[str | None, int, int]:
        """The rate-limit window of this call: (key, limit, window seconds); key None: none."""
        settings = self.settings
        window = settings.rate_limit_window_seconds
        if not settings.rate_limit_enabled:
            return None, 0, window
        if _bucket(path) == "auth":
            return f"auth:ip:{ip}", settings.rate_limit_auth, window
        if who is not None:
            return f"api:customer:{who.subject}", settings.rate_limit_customer, window
        return f"api:ip:{ip}", settings.rate_limit_anonymous, window

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
        body = Body(request.stream()) if has_body(request) else None
        with client_span(
            "emporium.gateway",
            f"{method} {route.upstream}",
            {"http.request.method": method, "emporium.upstream": route.upstream},
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
            answer = await upstream.send(
                method,
                path,
                headers,
                body,
                query=query,
                stream=stream,
                small=not route.large,
                timeout=(
                    self.settings.upload_timeout_seconds
                    if body is not None and is_upload(request)
                    else None
                ),
            )
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

    async def _answer(self, answer: aiohttp.ClientResponse, route: Route) -> Response:
        upstream = self.upstreams[route.upstream]
        length = answer.content_length
        if length is not None and length <= WHOLE_BYTES:
            body = await read_whole(answer, upstream.name, upstream.timeout)
            return _WholeResponse(answer.status, _passed_headers(answer), body)
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


class _WholeResponse(Response):
    """An upstream answer read whole: its own headers (``Content-Length`` included), as is."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.raw_headers = raw_headers
        self.body = body
        self.background = None


def _passed_headers(answer: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    """The answer's headers the client gets (``headers.response_headers``), raw."""
    return raw_response_headers(answer.raw_headers)


def _streaming(answer: aiohttp.ClientResponse, body: AsyncIterator[bytes]) -> Response:
    response = StreamingResponse(body, status_code=answer.status)
    response.raw_headers = _passed_headers(answer)
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


def _local_key(scope: Scope) -> bytes:
    # The raw target: what the client sent, so a hit re-encodes nothing.
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    return bytes(raw) + b"?" + bytes(scope.get("query_string", b""))


def _text_headers(request: Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]


def _lease_seconds(settings: Settings) -> float:
    # Renewed at every check: a few checks may be missed before a lease runs out.
    return max(30.0, 3 * settings.stream_check_seconds)


def _bucket(path: str) -> str:
    return "auth" if path == "/auth" or path.startswith("/auth/") else "api"


async def proxy(request: Request) -> Response:
    """Every public API call goes through here."""
    return await get_resources(request).get(Gateway).handle(request)


class CachedHitMiddleware:
    """Serves the hits ``Gateway.serve_hit`` finds before the router, and passes every other
    proxied API call without a body straight to ``Gateway.handle`` (pure ASGI, innermost:
    inside the request context, so request id, access log, metrics and span stay).

    The direct call skips what the router's way cost a token GET (the exception middleware,
    the route table's matching, Starlette's ``request_response``): about a tenth of the
    gateway's CPU. Its errors become the same answers: the app's own exception handlers
    answer them (``ErrorAnswers``). The front line (``shedding.py``) is outside this
    middleware, so direct calls are admitted first; calls with a body take the router's way.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._errors: ErrorAnswers | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            resources = getattr(scope["app"].state, "resources", None)
            extras = resources.extras if isinstance(resources, Resources) else {}
            gateway = extras.get(Gateway)
            if isinstance(gateway, Gateway):
                response = gateway.serve_hit(scope)
                if response is None and goes_direct(scope):
                    request = Request(scope, receive, send)
                    try:
                        response = await gateway.handle(request)
                    except Exception as error:
                        errors = self._errors or self._errors_of(scope["app"])
                        response = await errors.answer(request, error)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _errors_of(self, app: Any) -> ErrorAnswers:
        self._errors = ErrorAnswers(app.exception_handlers)
        return self._errors


class ErrorAnswers:
    """The answer the app's exception handlers give to an error, found as Starlette's
    exception middleware finds it (a status's handler for an ``HTTPException``, else the
    nearest class in the error's MRO). 500 and ``Exception`` are left out, as Starlette
    leaves them to its outermost middleware: such an error is raised on (the kit's request
    context answers it)."""

    def __init__(self, handlers: Mapping[Any, Callable[..., Any]]) -> None:
        self._by_status = {k: v for k, v in handlers.items() if isinstance(k, int) and k != 500}
        self._by_class = {
            k: v for k, v in handlers.items() if isinstance(k, type) and k is not Exception
        }

    async def answer(self, request: Request, error: Exception) -> Response:
        handler = None
        if isinstance(error, HTTPException):
            handler = self._by_status.get(error.status_code)
        if handler is None:
            handler = next(
                (self._by_class[c] for c in type(error).__mro__ if c in self._by_class), None
            )
        if handler is None:
            raise error
        answer = handler(request, error)
        response: Response = await answer if inspect.isawaitable(answer) else answer
        error.__traceback__ = None  # as Starlette: a reused instance would pile them up
        return response


def goes_direct(scope: Scope) -> bool:
    """Whether the router would pass this call to the proxy, and it has no body: a method
    the proxy takes, a path under ``/api/v1/`` that the route table serves."""
    if scope["method"] not in _METHODS_SET or not scope["path"].startswith(_API_SLASH):
        return False
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return False
        if name == b"transfer-encoding":
            return False
    target = target_of(scope)
    return match(Target(target.segments[2:]).path, scope["method"]) is not None


router = APIRouter(include_in_schema=False)
# A plain Starlette route, not a FastAPI endpoint: nothing to validate or inject, and the
# dependency machinery (query parsing included) cost a tenth of a cache hit's time.
router.add_route(API_PREFIX + "/{path:path}", proxy, methods=_METHODS, include_in_schema=False)


def _revoked_key(verifier: TokenVerifier) -> Callable[[str], str]:
    """The Redis key that marks a token id revoked: the kit's shared denylist's own."""
    denylist = verifier.denylist
    if not isinstance(denylist, CacheDenylist):
        raise TypeError("the gateway needs the platform's shared denylist (CacheDenylist)")
    cache = denylist.cache
    return lambda token_id: cache.full_key(f"revoked:{token_id}")


@contextlib.asynccontextmanager
async def gateway_lifespan(resources: Resources) -> AsyncIterator[Gateway]:
    """Builds the ``Gateway`` (after the upstreams and the token verifier exist)."""
    settings = resources.settings
    assert isinstance(settings, Settings)
    cache = resources.require_cache()
    from emporium.kit.cache.redis_cache import RedisCache

    verifier = resources.get(TokenVerifier)
    answers: RedisAnswers | MemoryAnswers
    front: Front
    limiter = None
    revocations = None
    local = None
    if isinstance(cache, RedisCache):
        answers = RedisAnswers(cache.client, prefix=f"{cache.namespace}:")
        outage = Outage()
        front = RedisFront(
            cache.client,
            limit_prefix=f"{cache.namespace}:ratelimit:",
            seq_key=answers.seq_key,
            revoked_key=_revoked_key(verifier),
            outage=outage,
        )
        revocations = RevocationChecks(
            cache.client, revoked_key=_revoked_key(verifier), outage=outage
        )
        if settings.rate_limit_enabled and settings.rate_limit_flush_seconds > 0:
            limiter = BatchedRateLimiter(
                cache.client,
                prefix=f"{cache.namespace}:ratelimit:",
                outage=outage,
                interval=settings.rate_limit_flush_seconds,
            )
        if settings.local_cache_entries > 0 and settings.local_cache_bytes > 0:
            local = LocalAnswers(
                max_entries=settings.local_cache_entries,
                max_bytes=settings.local_cache_bytes,
                # At most a quarter of the TTL: an answer is fetched again at most about
                # once every three quarters of its life.
                ahead_seconds=min(
                    settings.response_refresh_ahead_seconds, settings.response_cache_seconds / 4
                ),
            )
    else:
        answers = MemoryAnswers()
        front = MemoryFront(
            MemoryRateLimiter() if settings.rate_limit_enabled else None,
            answers,
            verifier.denylist,
        )
    response_cache = (
        ResponseCache(answers, ttl=settings.response_cache_seconds, local=local)
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
        verifier,
        front,
        response_cache,
        streams,
        limiter,
        revocations,
    )
    resources.put(gateway)
    async with contextlib.AsyncExitStack() as stack:
        if limiter is not None:
            await stack.enter_async_context(flushing(limiter))
        if response_cache is not None and local is not None and settings.response_refresh:
            refresher = AnswerRefresher(response_cache, gateway.upstreams, front)
            response_cache.refresh = refresher
            local.expiring = refresher.ahead
            stack.push_async_callback(refresher.close)
            resources.put(refresher)
        if isinstance(cache, RedisCache) and response_cache is not None and settings.redis_url:
            listener = StaleListener(settings.redis_url, response_cache)
            resources.put(await stack.enter_async_context(listening(listener)))
        elif response_cache is not None and not isinstance(cache, RedisCache):
            await stack.enter_async_context(listening_locally(response_cache))
        if settings.freeze_heap:
            # What exists now lives as long as the process: out of the collector's sight,
            # so a collection walks only what requests allocate (~15 % less CPU a hit).
            gc.collect()
            gc.freeze()
        yield gateway
