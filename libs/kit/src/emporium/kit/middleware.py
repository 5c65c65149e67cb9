"""Pure ASGI middleware: request context (id, span, metrics, access log) and a body limit.

Pure ASGI on purpose: ``BaseHTTPMiddleware`` runs the app in another task, which breaks
contextvars (request id, active span) and streaming; these wrap ``send``/``receive`` only.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.kit.errors import internal_error_response, problem_response
from emporium.kit.ids import request_id as new_request_id
from emporium.kit.logs import REQUEST_ID
from emporium.kit.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from emporium.kit.tracing import start_server_span

__all__ = [
    "REQUEST_ID_HEADER",
    "PathLimit",
    "RequestContextMiddleware",
    "RequestSizeLimitMiddleware",
    "RequestTooLarge",
    "body_limit_for",
    "declared_length",
    "route_template",
    "valid_request_id",
]

REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID = 128
UNMATCHED = "unmatched"

access_log = logging.getLogger("emporium.access")


def valid_request_id(value: str | None) -> str | None:
    """``value`` if it is a usable request id (1-128 printable ASCII, no spaces), else None."""
    if not value or len(value) > _MAX_REQUEST_ID:
        return None
    if not all("!" <= ch <= "~" for ch in value):
        return None
    return value


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/products/{id}``), or ``unmatched``.

    Used as a metric label and span name: the raw path would give one series per id.
    """
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestContextMiddleware:
    """Per HTTP request: request id, server span, metrics, access log, last-resort errors.

    - ``X-Request-Id`` is taken from the request when valid, else made (UUIDv7 hex); it is
      put in ``logs.REQUEST_ID`` for the request's duration and echoed on the response.
    - A SERVER span is started whose parent comes from ``traceparent``/``tracestate``.
    - ``emporium_http_requests_total`` / ``..._duration_seconds`` are recorded per route
      template; one access log line is written (at DEBUG for ``quiet_paths``: probes).
    - An exception escaping the app becomes a 500 (or 503 when a dependency is down)
      problem+json here, so the request id, metrics and log line are right for it too.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        quiet_paths: Collection[str] = ("/healthz", "/readyz", "/metrics"),
    ) -> None:
        self.app = app
        self.service = service
        self.quiet_paths = frozenset(quiet_paths)
        # The metric series of each (method, route, status) seen, made once.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, carrier = _request_headers(scope["headers"])
        request_id = valid_request_id(request_id) or new_request_id()
        method: str = scope["method"]
        path: str = scope["path"]
        status = 500
        started = False
        id_header = (_REQUEST_ID_RAW, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                _set_request_id(message, id_header)
            await send(message)

        token = REQUEST_ID.set(request_id)
        begun = time.perf_counter()
        span = start_server_span(
            method,
            carrier,
            {"http.request.method": method, "url.path": path, "emporium.request_id": request_id},
        )
        recorded = span.is_recording()
        span_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if recorded:
                    span.record_exception(exc)
                if started:  # too late for an error response: let the server cut it
                    access_log.error("response to %s %s failed midway", method, path)
                    raise
                response = internal_error_response(exc, path)
                await response(scope, receive, send_with_id)
            finally:
                route = route_template(scope)
                if recorded:
                    span.update_name(f"{method} {route}")
                    if route != UNMATCHED:
                        span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                self._record(method, path, route, status, time.perf_counter() - begun)
        finally:
            otel_context.detach(span_token)
            span.end()
            REQUEST_ID.reset(token)

    def _record(self, method: str, path: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # prometheus_client's labels() takes a lock and builds a key each call.
            series = self._series[key] = (
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                HTTP_REQUEST_SECONDS.labels(self.service, method, route),
            )
        series[0].inc()
        series[1].observe(seconds)
        level = logging.DEBUG if path in self.quiet_paths else logging.INFO
        if access_log.isEnabledFor(level):
            duration_ms = round(seconds * 1000, 2)
            # The record made and handled as ``access_log.log`` does, without its look for
            # the calling frame (no formatter of ours prints it): a line per request.
            access_log.handle(
                access_log.makeRecord(
                    access_log.name,
                    level,
                    __file__,
                    0,
                    "%s %s %d %.1fms",
                    (method, path, status, duration_ms),
                    None,
                    extra={
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )
            )


_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode("latin-1")
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, dict[str, str]]:
    """The request id and the W3C trace headers, in one pass over the raw headers (ASGI
    names are lowercase; the first of repeated ones counts, as ``Headers.get`` has it)."""
    request_id: str | None = None
    carrier: dict[str, str] = {}
    for name, value in raw:
        if name == _REQUEST_ID_RAW:
            if request_id is None:
                request_id = value.decode("latin-1")
        elif name == _TRACEPARENT or name == _TRACESTATE:
            carrier.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return request_id, {name: value for name, value in carrier.items() if value}


def _set_request_id(message: Message, header: tuple[bytes, bytes]) -> None:
    """What ``MutableHeaders(scope=message)[REQUEST_ID_HEADER] = ...`` does (the first
    header of that name replaced in place, any others dropped, else one appended), without
    building the wrapper on every response."""
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
    found = [i for i, (name, _) in enumerate(headers) if name == _REQUEST_ID_RAW]
    for i in reversed(found[1:]):
        del headers[i]
    if found:
        headers[found[0]] = header
    else:
        headers.append(header)
    message["headers"] = headers


class RequestTooLarge(HTTPException):
    """Raised from ``receive`` when the body outgrows the limit (becomes a 413 problem).

    An ``HTTPException`` so that FastAPI's body parsing lets it through untouched.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


#: A path pattern (``re.fullmatch`` on the request path) and the body limit for it.
PathLimit = tuple[str, int]


def body_limit_for(path: str, default: int, path_limits: Sequence[PathLimit]) -> int:
    """The body limit for ``path``: the first matching pattern's, else ``default``."""
    for pattern, limit in path_limits:
        if re.fullmatch(pattern, path):
            return limit
    return default


def declared_length(value: str | None) -> int | None:
    """A ``Content-Length`` as a number; None when absent or not plain ASCII digits."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _body_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
    """(``Content-Length``, whether a ``Transfer-Encoding`` is sent), without building
    ``Headers`` (the first ``Content-Length`` counts, as ``Headers.get`` has it)."""
    length: str | None = None
    encoded = False
    for name, value in raw:
        if name == b"content-length":
            if length is None:
                length = value.decode("latin-1")
        elif name == b"transfer-encoding":
            encoded = True
    return length, encoded


class RequestSizeLimitMiddleware:
    """Refuse request bodies over ``max_body_bytes`` with 413 problem+json.

    A declared ``Content-Length`` over the limit is refused before the app runs; a body
    without one (chunked) is counted as it is read and cut off at the limit.
    ``path_limits`` give some paths (an upload endpoint) a limit of their own.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, path_limits: Sequence[PathLimit] = ()
    ) -> None:
        if max_body_bytes < 0 or any(limit < 0 for _, limit in path_limits):
            raise ValueError("max_body_bytes must be >= 0")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = tuple(path_limits)
        # Compiled once (a bad pattern fails at startup, not on a request): re.fullmatch
        # looks its pattern up in re's cache on every call.
        self._compiled = tuple(
            (re.compile(pattern).fullmatch, limit) for pattern, limit in path_limits
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = next((n for match, n in self._compiled if match(path)), self.max_body_bytes)
        length, encoded = _body_headers(scope["headers"])
        declared = declared_length(length)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, RequestTooLarge(limit))
            return
        if not encoded and (length is None or declared == 0):
            # No body follows (HTTP/1.1: neither a length nor chunks): nothing to count,
            # so no wrappers around every message of a GET.
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except RequestTooLarge as exc:
            if started:
                raise
            await self._refuse(scope, receive, send, exc)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: RequestTooLarge) -> None:
        response = problem_response(
            status=413,
            detail=exc.detail,
            instance=scope.get("path"),
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
