"""One pooled HTTP client per upstream service, built once for the process.

The client is aiohttp: measured against httpx on a streamed GET with 20 in flight, it served
18-26x the requests per second at a tenth of the p50 latency (``bench/gateway_client.py``,
figures in ``bench/results/gateway_client.md``).

A body-less GET of a route whose answers are small (``small``: not ``/media``) is asked
first with the lean client (``lean.py``: one write, httptools, the answer read whole on a
kept-alive connection; a fifth of the gateway's CPU on a token GET was aiohttp's request
machinery). An answer that is not a sized one of at most ``relay.WHOLE_BYTES`` is asked
again through aiohttp, which streams it. Its failures are the same problems (503 on a
connect failure, retried; 504; 502), through the same breaker and admission line.

``Upstream.send`` is where resilience lives: the circuit breaker is asked first (an open
breaker answers 503 at once); idempotent calls are retried on connect errors, only while
no byte of the request body has been sent; the wait for the answer's headers is bounded by
the upstream's timeout, counted from the last chunk of request body sent (504). Failures
become the gateway's problem errors (503/504/502).

The URL is built with yarl from the configured base and the canonical, encoded path and
query (``target.py``): no request can change the scheme, host or port.

Two connection pools per service: one for ordinary calls (``upstream_max_connections``, or
the service's entry in ``upstream_pool_sizes``), one for event streams
(``stream_max_connections``), so long-lived streams cannot take the connections everyone
else's calls need. Admission to a pool is the gateway's own fair queue (``admission.py``):
a call that finds every connection in use waits in line, behind at most
``upstream_queue_length`` others and for at most ``upstream_queue_seconds``, then answers
503 ``upstream-busy`` with ``Retry-After``. That wait is the gateway's own congestion, not
a failure of the service, so it never counts towards the breaker; the HTTP client's
connect timeout starts only once a call holds a slot, so it measures connecting alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import cast

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from emporium.gateway.admission import Admission, Busy
from emporium.gateway.breaker import CircuitBreaker
from emporium.gateway.errors import (
    BadGateway,
    UpstreamBusy,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from emporium.gateway.lean import BadAnswer, CannotConnect, LeanPool, NotSmall
from emporium.gateway.relay import WHOLE_BYTES
from emporium.gateway.settings import Settings
from emporium.kit.app import Resources
from emporium.kit.metrics import GATEWAY_BREAKER_OPEN, GATEWAY_UPSTREAM_FAILURES

__all__ = ["IDEMPOTENT", "Body", "Upstream", "Upstreams", "upstreams_lifespan"]

log = logging.getLogger("emporium.gateway.upstreams")

#: Methods a retry cannot do twice (RFC 9110 section 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_BACKOFF = 0.05


class Body:
    """A request body to stream upstream once; knows whether reading it has begun.

    ``on_progress`` is called for each chunk: an upload still flowing is not a timeout.
    """

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self.started = False
        self.on_progress: Callable[[], None] = lambda: None

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            self.started = True
            self.on_progress()
            if chunk:
                yield chunk


def _extend(deadline: asyncio.Timeout, seconds: float) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    return lambda: deadline.reschedule(loop.time() + seconds)


class Upstream:
    """One service: its base URL, pooled session, timeouts, retries and breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float,
        connect_timeout: float,
        retries: int,
        breaker: CircuitBreaker,
        max_connections: int = 32,
        stream_max_connections: int = 100,
        queue_seconds: float = 10.0,
        queue_length: int = 10_000,
        keepalive_seconds: float = 4.0,
    ) -> None:
        self.name = name
        self.base = _base_url(name, base_url)
        self.base_url = str(self.base).rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.breaker = breaker
        self.max_connections = max_connections
        self.stream_max_connections = stream_max_connections
        self.queue_seconds = queue_seconds
        self.queue_length = queue_length
        self.admission = Admission(
            max_connections, max_waiting=queue_length, wait_seconds=queue_seconds
        )
        self.stream_admission = Admission(
            stream_max_connections, max_waiting=queue_length, wait_seconds=queue_seconds
        )
        self.keepalive_seconds = keepalive_seconds
        # Body-less GETs with a small answer (``lean.py``); plain http only.
        self.lean = (
            LeanPool(
                self.base.host or "",
                self.base.port or 80,
                self.base.raw_authority,
                connect_timeout=connect_timeout,
                keepalive_seconds=keepalive_seconds,
                limit=WHOLE_BYTES,
                max_idle=max_connections,
            )
            if self.base.scheme == "http"
            else None
        )
        self._session: aiohttp.ClientSession | None = None
        self._stream_session: aiohttp.ClientSession | None = None
        self._breaker_open = GATEWAY_BREAKER_OPEN.labels(upstream=name)
        self._breaker_open.set(0)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool of ordinary calls."""
        # Made on first use, inside the running loop (aiohttp binds it to the loop).
        if self._session is None:
            self._session = self._new_session(self.max_connections)
        return self._session

    @property
    def stream_session(self) -> aiohttp.ClientSession:
        """The pool of event streams, apart from the ordinary calls'."""
        if self._stream_session is None:
            self._stream_session = self._new_session(self.stream_max_connections)
        return self._stream_session

    def _new_session(self, limit: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                # ``Admission`` bounds the calls to ``limit``; the connector's own bound is
                # a safety net above it (its queue must never be the one calls wait in).
                limit=limit + 16,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
                # Below the services' own idle timeout (uvicorn: 5 s), so a pooled
                # connection is never reused just as the service closes it (a POST sent
                # into that race fails with "server disconnected" and cannot be retried).
                keepalive_timeout=self.keepalive_seconds,
            ),
            # Bodies pass through as the service sent them (compressed or not).
            auto_decompress=False,
            # Send the client's headers, not aiohttp's defaults.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            # Connecting alone: the wait for a free connection happened before (``Admission``).
            # ``sock_connect`` bounds the TCP connect, ``connect`` the whole of it (a TLS
            # handshake too): a second more, for a busy event loop to get round to it.
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.connect_timeout + 1.0,
                sock_connect=self.connect_timeout,
                sock_read=None,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def url(self, path: str, query: str = "") -> URL:
        """The service's URL for an encoded ``path`` and ``query`` (from ``Target``)."""
        return URL.build(
            scheme=self.base.scheme,
            authority=self.base.raw_authority,
            path=self.base.raw_path.rstrip("/") + path,
            query_string=query,
            encoded=True,
        )

    def _busy(self, busy: Busy) -> UpstreamBusy:
        GATEWAY_UPSTREAM_FAILURES.labels(upstream=self.name, kind="busy").inc()
        log.warning(
            "%s: %s", self.name,
            f"no free connection within {self.queue_seconds:g} s" if busy.waited
            else f"the line for a connection would take over {self.queue_seconds:g} s"
            if busy.late else f"{self.queue_length} calls already wait for a connection",
            extra={"upstream": self.name},
        )  # fmt: skip
        return UpstreamBusy(
            f"the {self.name} service is busy; try again shortly",
            retry_after=1,
            upstream=self.name,
        )

    async def send(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: Body | None = None,
        *,
        query: str = "",
        stream: bool = False,
        small: bool = False,
        timeout: float | None = None,
    ) -> aiohttp.ClientResponse:
        """Send the request to the encoded ``path`` and ``query``; return the answer once its
        headers are in (body unread). ``stream``: an event stream, from the streams' pool.
        ``timeout`` replaces the service's own for this call (an upload's answer).
        ``small``: a body-less GET's answer is likely small: asked with the lean client
        first (``lean.py``; a larger one is then asked again, streaming).

        Raises ``UpstreamUnavailable`` (503: down, refused, breaker open), ``UpstreamBusy``
        (503: no free connection in time), ``UpstreamTimeout`` (504) or ``BadGateway`` (502).
        The caller must ``release()`` or ``close()`` the answer.
        """
        self._refuse_if_open()
        admission = self.stream_admission if stream else self.admission
        try:
            await admission.acquire()
        except Busy as busy:
            raise self._busy(busy) from None
        try:
            response = await self._send(
                method, path, headers, body, query, stream, timeout or self.timeout, small
            )
        except BaseException:
            admission.release()
            raise
        connection = response.connection
        if connection is None:  # the whole answer is in already: the connection is back
            admission.release()
        else:
            connection.add_callback(admission.release)  # on release() and close() alike
        return response

    def _refuse_if_open(self) -> None:
        if not self.breaker.allow():
            self._failed("circuit_open")
            raise UpstreamUnavailable(
                f"the {self.name} service is not answering; try again shortly",
                retry_after=max(1, math.ceil(self.breaker.retry_after())),
                upstream=self.name,
            )

    async def _send(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        body: Body | None,
        query: str,
        stream: bool,
        timeout: float,
        small: bool = False,
    ) -> aiohttp.ClientResponse:
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        url = self.url(path, query)
        session = self.stream_session if stream else self.session
        small = small and method == "GET" and body is None and not stream
        lean = self.lean if small and LeanPool.sendable(path + query, headers) else None
        begun = time.monotonic()
        for attempt in range(attempts):
            if attempt:
                self._refuse_if_open()
            try:
                async with asyncio.timeout(timeout) as deadline:
                    if body is not None:
                        body.on_progress = _extend(deadline, timeout)
                    response: aiohttp.ClientResponse | None = None
                    if lean is not None:
                        with contextlib.suppress(NotSmall):  # else streamed, by aiohttp
                            # Shaped as the part of a ClientResponse its callers use.
                            response = cast(
                                aiohttp.ClientResponse, await lean.get(url.raw_path_qs, headers)
                            )
                    if response is None:
                        response = await session.request(
                            method,
                            url,
                            headers=CIMultiDict(headers),
                            data=body.chunks() if body is not None else None,
                            allow_redirects=False,
                            compress=False,
                        )
            except (
                aiohttp.ClientConnectorError,
                aiohttp.ConnectionTimeoutError,
                CannotConnect,
            ) as error:
                self._failed("unavailable")
                retry = (
                    attempt + 1 < attempts
                    and (body is None or not body.started)
                    # Retries share the one timeout: a blackholed host must not multiply it.
                    and time.monotonic() - begun < timeout
                )
                log.warning(
                    "%s: cannot connect (%s)%s",
                    self.name,
                    error,
                    "; retrying" if retry else "",
                    extra={"upstream": self.name, "attempt": attempt + 1},
                )
                if retry:
                    await asyncio.sleep(_RETRY_BACKOFF * 2**attempt)
                    continue
                raise UpstreamUnavailable(
                    f"the {self.name} service is not available right now; try again shortly",
                    retry_after=max(1, math.ceil(self.breaker.retry_after())),
                    upstream=self.name,
                ) from None
            except TimeoutError:
                self._failed("timeout")
                log.warning(
                    "%s: no answer within %g s", self.name, timeout,
                    extra={"upstream": self.name},
                )  # fmt: skip
                raise UpstreamTimeout(
                    f"the {self.name} service did not answer within {timeout:g} s",
                    upstream=self.name,
                ) from None
            except (aiohttp.ClientError, BadAnswer) as error:
                self._failed("bad_answer")
                log.warning("%s: bad answer: %r", self.name, error, extra={"upstream": self.name})
                raise BadGateway(
                    f"the {self.name} service gave no valid answer", upstream=self.name
                ) from None
            self.breaker.record_success()
            self._breaker_open.set(0)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, kind: str) -> None:
        GATEWAY_UPSTREAM_FAILURES.labels(upstream=self.name, kind=kind).inc()
        if kind != "circuit_open":
            self.breaker.record_failure()
        self._breaker_open.set(0 if self.breaker.state == "closed" else 1)

    async def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        for session in (self._session, self._stream_session):
            if session is not None:
                await session.close()
        self._session = self._stream_session = None


def _base_url(name: str, value: str) -> URL:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        raise ValueError(f"the {name} URL must be http(s)://host[:port][/path], not {value!r}")
    return url


class Upstreams:
    """The gateway's upstreams by service name; ``readiness_check`` asks a service's /readyz."""

    def __init__(self, settings: Settings) -> None:
        self.by_name: dict[str, Upstream] = {
            name: Upstream(
                name,
                url,
                timeout=settings.timeout_of(name),
                connect_timeout=settings.upstream_connect_timeout_seconds,
                retries=settings.upstream_retries,
                breaker=CircuitBreaker(
                    failure_threshold=settings.breaker_failure_threshold,
                    reset_seconds=settings.breaker_reset_seconds,
                ),
                max_connections=settings.pool_size_of(name),
                stream_max_connections=settings.stream_max_connections,
                queue_seconds=settings.upstream_queue_seconds,
                queue_length=settings.upstream_queue_length,
                keepalive_seconds=settings.upstream_keepalive_seconds,
            )
            for name, url in settings.upstreams().items()
        }

    def __getitem__(self, name: str) -> Upstream:
        return self.by_name[name]

    def readiness_check(self, name: str) -> Callable[[], Awaitable[None]]:
        upstream = self.by_name[name]

        async def check() -> None:
            async with upstream.session.get(upstream.base_url + "/readyz") as response:
                if response.status != 200:
                    raise ConnectionError(f"{name} is not ready ({response.status})")

        return check

    async def close(self) -> None:
        for upstream in self.by_name.values():
            await upstream.close()


@contextlib.asynccontextmanager
async def upstreams_lifespan(resources: Resources) -> AsyncIterator[Upstreams]:
    settings = resources.settings
    assert isinstance(settings, Settings)
    upstreams = Upstreams(settings)
    resources.put(upstreams)
    for name in upstreams.by_name:
        # Reported, but not critical: with one service down the gateway still serves the
        # others' routes, so it must stay in load balancing.
        resources.probes.add_check(
            f"upstream:{name}", upstreams.readiness_check(name), critical=False
        )
    try:
        yield upstreams
    finally:
        await upstreams.close()
