"""The gateway's front line: a bounded, fair wait for the calls that cost it work of its own.

An authenticated call or a write costs the gateway several turns of its event loop (auth,
Redis, the upstream call, the answer), so a flood of them can saturate the loop. At most
``limit`` of them run at once (``Admission``, ``admission.py``: the kit's FIFO line); the next
wait their turn, at most ``wait_seconds``, and one that cannot start within that (or, while
the line stands, whose turn would come after ``turn_seconds``) gets 503
``gateway-overloaded`` with ``Retry-After`` (problem details). So under an open-loop
overload the calls that run keep their pace, the line stays about ``turn_seconds`` deep
and drains that fast once the overload ends; a closed loop of clients (each one call at a
time) only ever waits, as its in-flight calls are bounded by its number of clients.

Not in the line: the probes and ``/metrics`` (an orchestrator must see a busy gateway as
alive), event streams (they last minutes, with a pool and a cap of their own), and
anonymous reads (GET/HEAD without ``Authorization``): their hits cost about what a refusal
does, and their misses are fetched once per answer however many shoppers wait for it
(``response_cache.py``), bounded by the upstream's own line (``upstreams.py``). Thousands
of shoppers from a stale cache wait for those fetches; refusing them lowered no load (they
ask again at once) and was most of their 5xx.

This replaces shedding on the loop's lag, which could not tell those shoppers from an
overload and, once started, refused most of an overload (measured: 76,534 x 503 against
16,997 answers at 120 % of the token path's saturation). The lag is still measured
(``LagMonitor``, ``emporium_gateway_loop_lag_seconds``) for operators.

Every refusal is counted in ``emporium_gateway_shed_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.gateway.admission import REASONS, Admission, Busy
from emporium.gateway.errors import GatewayOverloaded
from emporium.gateway.routes import is_event_stream
from emporium.gateway.target import target_of
from emporium.kit.errors import problem_response
from emporium.kit.ids import request_id as new_request_id
from emporium.kit.logs import REQUEST_ID
from emporium.kit.metrics import REGISTRY
from emporium.kit.middleware import REQUEST_ID_HEADER, valid_request_id

__all__ = [
    "GATEWAY_LOOP_LAG",
    "GATEWAY_SHED",
    "OVERLOADED_TYPE",
    "TICK",
    "UNSHED_PATHS",
    "ArrivalGate",
    "FrontLine",
    "LagMonitor",
    "in_line",
    "monitoring",
]

#: How often the monitor samples the loop's lag (seconds it sleeps between samples).
TICK = 0.05
#: Never in the line: liveness, readiness and the scrape.
UNSHED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OVERLOADED_TYPE = GatewayOverloaded.type
_READS = frozenset({"GET", "HEAD"})
_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode("latin-1")
#: Seconds between two log lines that count the calls refused on arrival.
REFUSALS_LOG_SECONDS = 1.0

log = logging.getLogger("emporium.gateway.shedding")

GATEWAY_SHED = Counter(
    "emporium_gateway_shed_total",
    "Calls the gateway refused (503 gateway-overloaded), by reason: late (refused on arrival: "
    "the line moves too slowly for its turn to come in time), timeout (waited in line for "
    "nothing), full (the line holds its most callers)",
    ["reason"],
    registry=REGISTRY,
)
# Each reason's series made once (``labels`` takes a lock and builds a key every call) and
# shown from the start, at 0.
_SHED_BY_REASON = {reason: GATEWAY_SHED.labels(reason) for reason in REASONS}
GATEWAY_LOOP_LAG = Gauge(
    "emporium_gateway_loop_lag_seconds",
    "How late the gateway's event loop last woke a timer (its latest sample)",
    registry=REGISTRY,
)


def in_line(scope: Scope) -> bool:
    """Whether this HTTP call waits in the front line (see the module's docstring)."""
    path = scope["path"]
    if path in UNSHED_PATHS:
        return False
    method = scope["method"]
    if method in _READS:
        if not any(name == b"authorization" for name, _ in scope["headers"]):
            return False  # an anonymous read
        segments = target_of(scope).segments
        if segments[:2] == ("api", "v1") and is_event_stream(segments[2:], method):
            return False
    return True


def _refusal(scope: Scope, retry_after: int, headers: dict[str, str] | None = None) -> ASGIApp:
    return problem_response(
        status=503,
        type=OVERLOADED_TYPE,
        title=GatewayOverloaded.title,
        detail=f"the gateway is overloaded; retry in {retry_after} s",
        instance=scope["path"],
        headers={"Retry-After": str(retry_after), **(headers or {})},
    )


class FrontLine:
    """Passes calls ``in_line`` through ``line`` (pure ASGI; inside the request context,
    outside the in-process hits, which it never holds up)."""

    def __init__(self, app: ASGIApp, line: Admission, *, retry_after: int = 1) -> None:
        self.app = app
        self.line = line
        self.retry_after = max(1, math.ceil(retry_after))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not in_line(scope):
            await self.app(scope, receive, send)
            return
        try:
            await self.line.acquire()
        except Busy as busy:
            _SHED_BY_REASON[busy.reason].inc()
            await _refusal(scope, self.retry_after)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.line.release()


class ArrivalGate:
    """Refuses the calls the front line would refuse on arrival, before the request context.

    Under an open-loop overload most calls are refused on arrival (``late``), and a refusal
    that went through the whole middleware stack (request id, server span, metrics, an
    access log line each, the target's check) cost about what serving a call does, so the
    refusals took the CPU the calls served needed: at 120 % of the token path's saturation
    (3,373/s) the gateway answered 187-917 a second, the rest 503 or client timeouts; with
    this gate 648-1,217 (gateway/README.md). Outermost but for the security headers and
    CORS, this asks the line (``Admission.refusal``: no slot taken, nothing changed) and
    answers the same 503 problem, with the request's valid ``X-Request-Id`` or a new one
    in its header and body. What it skips for those calls: the access log line and the
    request metrics; they are counted in ``emporium_gateway_shed_total`` and logged as one
    line per ``REFUSALS_LOG_SECONDS`` with how many. A call it lets through meets the
    ``FrontLine`` inside, which takes its slot or its place in line as before.
    """

    def __init__(self, app: ASGIApp, line: Admission, *, retry_after: int = 1) -> None:
        self.app = app
        self.line = line
        self.retry_after = max(1, math.ceil(retry_after))
        self._refused = 0
        self._since = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        busy = self.line.refusal() if scope["type"] == "http" else None
        if busy is None or not in_line(scope):
            await self.app(scope, receive, send)
            return
        _SHED_BY_REASON[busy.reason].inc()
        self._count()
        given = next((v for k, v in scope["headers"] if k == _REQUEST_ID_RAW), None)
        request_id = valid_request_id(given.decode("latin-1") if given else None)
        request_id = request_id or new_request_id()
        token = REQUEST_ID.set(request_id)  # the problem body names it, as in the context
        try:
            response = _refusal(scope, self.retry_after, {REQUEST_ID_HEADER: request_id})
        finally:
            REQUEST_ID.reset(token)
        await response(scope, receive, send)

    def _count(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._since >= REFUSALS_LOG_SECONDS:
            log.warning(
                "overloaded: %d calls refused on arrival in the last %.1f s",
                self._refused,
                now - self._since,
            )
            self._refused, self._since = 0, now


class LagMonitor:
    """Samples the loop's lag every ``tick`` seconds into ``emporium_gateway_loop_lag_seconds``."""

    def __init__(self, *, tick: float = TICK) -> None:
        self.tick = tick
        self.lag = 0.0

    async def run(self, clock: Callable[[], float] | None = None) -> None:
        loop = asyncio.get_running_loop()
        now = clock or loop.time
        while True:
            due = now() + self.tick
            await asyncio.sleep(self.tick)
            self.sample(max(0.0, now() - due))

    def sample(self, lag: float) -> None:
        self.lag = lag
        GATEWAY_LOOP_LAG.set(lag)


@contextlib.asynccontextmanager
async def monitoring(monitor: LagMonitor) -> AsyncIterator[LagMonitor]:
    """Runs ``monitor`` for the life of the block."""
    task = asyncio.create_task(monitor.run(), name="gateway-lag-monitor")
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
