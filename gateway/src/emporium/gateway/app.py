"""The gateway's FastAPI app: the public API under ``/api/v1``, its OpenAPI and the probes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from emporium.gateway import openapi, proxy, storefront
from emporium.gateway.admission import Admission
from emporium.gateway.openapi import OpenAPIAggregator
from emporium.gateway.security_headers import SecurityHeadersMiddleware
from emporium.gateway.settings import Settings
from emporium.gateway.shedding import ArrivalGate, FrontLine, LagMonitor, monitoring
from emporium.gateway.target import CanonicalTargetMiddleware
from emporium.gateway.upstreams import Upstreams, upstreams_lifespan
from emporium.kit.app import Resources, create_app
from emporium.kit.auth import KeySource
from emporium.kit.auth.dependencies import verifier_hook

__all__ = ["create_gateway_app"]

TITLE = "Emporium storefront API"
VERSION = "1.0.0"
DESCRIPTION = (
    "The one REST API storefronts use, under /api/v1. Errors are application/problem+json; "
    "authenticated calls send Authorization: Bearer <access_token> from POST /api/v1/auth/token."
)
# What a storefront in another origin may read from an answer.
_EXPOSED = ["ETag", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
            "X-Request-Id", "Location"]  # fmt: skip


_ALLOWED = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "Last-Event-ID",
    "X-Request-Id",
    "traceparent",
]


@contextlib.asynccontextmanager
async def _openapi_lifespan(resources: Resources) -> AsyncIterator[OpenAPIAggregator]:
    settings = resources.settings
    assert isinstance(settings, Settings)
    aggregator = OpenAPIAggregator(
        resources.get(Upstreams),
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        retry_seconds=settings.openapi_retry_seconds,
    )
    resources.put(aggregator)
    yield aggregator


def _lag_lifespan(
    monitor: LagMonitor,
) -> Callable[[Resources], contextlib.AbstractAsyncContextManager[LagMonitor]]:
    @contextlib.asynccontextmanager
    async def hook(_resources: Resources) -> AsyncIterator[LagMonitor]:
        async with monitoring(monitor):
            yield monitor

    return hook


def create_gateway_app(
    settings: Settings | None = None, *, keys: KeySource | None = None, **overrides: Any
) -> FastAPI:
    """The gateway app; ``keys`` replaces the customers JWKS (tests), ``overrides`` go to
    ``create_app`` (e.g. a ``cache``)."""
    settings = settings or Settings()
    # The storefront's catch-all comes last: every route of the gateway's own wins.
    web = [storefront.router] if settings.storefront_url else []
    web_lifespan = [storefront.storefront_lifespan] if settings.storefront_url else []
    front_line = (
        Admission(
            settings.shed_max_in_flight,
            max_waiting=settings.shed_queue_length,
            wait_seconds=settings.shed_queue_seconds,
            early=True,
            turn_seconds=settings.shed_turn_seconds,
        )
        if settings.shed_enabled
        else None
    )
    app = create_app(
        settings=settings,
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        routers=[openapi.router, proxy.router, *web],
        lifespan_hooks=[
            verifier_hook(keys),
            upstreams_lifespan,
            proxy.gateway_lifespan,
            _openapi_lifespan,
            *web_lifespan,
            _lag_lifespan(LagMonitor()),
        ],
        # Served by the gateway's own routes: the document of the whole API, not of this app.
        openapi_url=None,
        docs_url=None,
        max_body_bytes=settings.max_body_bytes,
        **overrides,
    )
    # No "307 to the path with a slash": such a redirect names the client's Host header
    # (an open redirect), and every public path is exact; ``/api/v1`` is a 404 problem.
    app.router.redirect_slashes = False
    # Innermost middleware: a target that could mean two things is refused before the
    # router looks at its decoded form, inside the kit's request context (request id,
    # access log, metrics under the "unmatched" route).
    app.user_middleware.append(Middleware(CanonicalTargetMiddleware))
    if front_line is not None:
        # Inside that: authenticated calls and writes wait their turn (or are refused with
        # 503 when they cannot start in time) before any routing, auth or Redis; anonymous
        # reads, the probes and event streams pass (shedding.py).
        app.user_middleware.append(
            Middleware(FrontLine, line=front_line, retry_after=settings.shed_retry_after_seconds)
        )
    # Inside that: a hit kept in this process is answered before the router runs.
    app.user_middleware.append(Middleware(proxy.CachedHitMiddleware))
    if front_line is not None:
        # Outside the request context, inside CORS and the security headers: the calls the
        # line refuses on arrival are answered before any per-request work (shedding.py).
        app.add_middleware(
            ArrivalGate, line=front_line, retry_after=settings.shed_retry_after_seconds
        )
    if settings.cors_origins:
        # Outermost: preflights are answered before anything else runs.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=_ALLOWED,
            expose_headers=_EXPOSED,
            max_age=600,
        )
    # Outermost of all: every answer carries them, preflights and problems included.
    app.add_middleware(SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds)
    return app
