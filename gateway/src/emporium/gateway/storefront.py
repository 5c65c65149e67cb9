"""The web storefront behind the gateway: every path that is not the gateway's own.

One origin for everything: the API at ``/api/v1``, the gateway's ``/docs``, ``/healthz``,
``/readyz`` and ``/metrics``, and every other path (``/``, ``/products/...``, ``/admin/...``,
``/static/...``) passed to the storefront at ``GATEWAY_STOREFRONT_URL``. Unset, nothing
changes: such paths are the gateway's 404 problem, as before.

The request target is the canonical one (``target.py``: the middleware has already refused
encoded slashes, dot segments and the rest with a 400), re-encoded from its parsed form and
joined to the configured base with yarl, so no request can reach another host, port or a
path the canonical form does not name. ``/api`` and anything under it never reaches the
storefront. Headers cross as they do for the API (``headers.py``: hop-by-hop dropped,
``X-Forwarded-*`` replaced with the resolved client). Bodies stream both ways; the wait for
the answer's headers and each pause between two chunks are bounded by the timeout, except
in an event stream (an order's live status), whose pauses are the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from yarl import URL

from emporium.gateway.bodies import has_body, is_upload
from emporium.gateway.client import resolve_client
from emporium.gateway.errors import RouteNotFound, UpstreamTimeout, UpstreamUnavailable
from emporium.gateway.headers import request_headers, response_headers
from emporium.gateway.settings import Settings
from emporium.gateway.target import target_of
from emporium.kit.app import Resources, get_resources
from emporium.kit.logs import current_request_id
from emporium.kit.tracing import current_context

__all__ = ["Storefront", "router", "storefront_lifespan", "storefront_url"]

log = logging.getLogger("emporium.gateway.storefront")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def storefront_url(base: URL, encoded_path: str, encoded_query: str) -> URL:
    """The storefront URL for a canonical, encoded path and query: scheme, host and port
    are always the base's, whatever the path and query hold."""
    return URL.build(
        scheme=base.scheme,
        authority=base.raw_authority,
        path=base.raw_path.rstrip("/") + encoded_path,
        query_string=encoded_query,
        encoded=True,
    )


class Storefront:
    """The storefront upstream: its base URL and one pooled session."""

    def __init__(self, settings: Settings) -> None:
        self.base = URL(settings.storefront_url)
        if (
            self.base.scheme not in ("http", "https")
            or not self.base.host
            or self.base.query_string
        ):
            raise ValueError(
                f"GATEWAY_STOREFRONT_URL must be http(s)://host[:port][/path], not {self.base}"
            )
        self.timeout = settings.timeout_of("storefront")
        self.upload_timeout = settings.upload_timeout_seconds
        self.trusted = settings.trusted_networks()
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.upstream_max_connections,
                keepalive_timeout=settings.upstream_keepalive_seconds,
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=settings.upstream_connect_timeout_seconds
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # the browser's cookies, never the gateway's
        )

    async def close(self) -> None:
        await self.session.close()

    async def ping(self) -> None:
        async with asyncio.timeout(self.timeout):
            async with self.session.get(storefront_url(self.base, "/healthz", "")) as answer:
                if answer.status != 200:
                    raise ConnectionError(f"the storefront answers {answer.status}")

    async def handle(self, request: Request) -> Response:
        target = target_of(request.scope)
        if target.starts_with("api"):
            raise RouteNotFound(f"there is no API path {target.path} for {request.method}")
        incoming = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        client = resolve_client(
            request.client.host if request.client else None,
            incoming,
            scheme=request.url.scheme,
            host=request.headers.get("host"),
            trusted=self.trusted,
        )
        headers = request_headers(
            incoming,
            client_ip=client.ip,
            scheme=client.scheme,
            host=client.host,
            request_id=current_request_id(),
            trace=current_context(),
        )
        url = storefront_url(self.base, target.encoded_path(), target.encoded_query())
        body = request.stream() if has_body(request) else None
        # An upload's page answers once the API has stored the image (see settings).
        timeout = self.upload_timeout if body is not None and is_upload(request) else self.timeout
        try:
            async with asyncio.timeout(timeout):
                answer = await self.session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=_chunks(body) if body is not None else None,
                    allow_redirects=False,
                )
        except TimeoutError:
            raise UpstreamTimeout("the storefront did not answer in time") from None
        except aiohttp.ClientError as error:
            log.warning("storefront unreachable: %s", type(error).__name__)
            raise UpstreamUnavailable("the storefront is unavailable") from None
        stream = answer.headers.get("content-type", "").startswith("text/event-stream")
        out = StreamingResponse(
            _relay(answer, None if stream else self.timeout),
            status_code=answer.status,
            background=BackgroundTask(answer.close),
        )
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers]
        out.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers(pairs)
        ]
        return out


async def _chunks(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in source:
        if chunk:
            yield chunk


async def _relay(answer: aiohttp.ClientResponse, timeout: float | None) -> AsyncIterator[bytes]:
    try:
        while True:
            async with asyncio.timeout(timeout):
                chunk = await answer.content.readany()
            if not chunk:
                break
            yield chunk
        answer.release()
    except (TimeoutError, aiohttp.ClientError) as error:
        log.warning("storefront answer cut midway: %r", error)
        raise
    finally:
        answer.close()


router = APIRouter(include_in_schema=False)


@router.api_route("/{path:path}", methods=_METHODS)
async def storefront(request: Request) -> Response:
    """Every path that is not the gateway's own goes to the storefront."""
    return await get_resources(request).get(Storefront).handle(request)


@contextlib.asynccontextmanager
async def storefront_lifespan(resources: Resources) -> AsyncIterator[Storefront]:
    settings = resources.settings
    assert isinstance(settings, Settings)
    shop = Storefront(settings)
    resources.put(shop)
    # Not critical: the API still serves while the web shop is away.
    resources.probes.add_check("storefront", shop.ping, critical=False)
    try:
        yield shop
    finally:
        await shop.close()
