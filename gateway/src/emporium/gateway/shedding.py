"""Load shedding at the gateway's front door, when the gateway itself is overloaded.

The upstream line (``admission.py``) sheds when a *service* is the bottleneck. When the
gateway's own event loop is, requests wait for the loop until clients give up: everyone
times out and the work done for them is wasted. This module refuses a share of the dear
requests early and cheaply instead (503 ``gateway-overloaded`` with ``Retry-After``), so
the ones accepted are answered within a client's patience, and it stops within about a
second of the loop catching up.

The signal is the event loop's lag: a monitor task sleeps ``TICK`` seconds and measures how
late it wakes up (a saturated loop runs every ready callback before it gets back to its
timers, so the overshoot is about one turn of the loop: the wait every step of a request
has). The decision starts as CoDel's: an episode begins only when the lag has stayed above
``target`` for all of ``interval`` (the *minimum* over the interval above the target),
never on one spike (a long GC pause, a burst, a busy CI machine); then the share refused
follows the lag (``ShedPolicy``).

The overload has to reach the loop for the lag to show it: on uvloop's own server (libuv
accepts one connection per turn of the loop) it waited in the kernel's accept queue
instead (full at 2,049, the loop lagging 0.01-0.5 s, nothing shed, 44-77 % client
timeouts). The kit's runner accepts in batches (``BatchAcceptLoop``), so the waiting
requests are in the process and lag it. Measured then (token GETs at 800/s, about twice
what the shared 2 cores allowed, 25 s, 10 s client timeout): with 0.5 s over 2 s,
0.15-29 % client timeouts, the answered calls' p50 1.6-6.3 s, recovery 4-8 s; with the
defaults now (0.2 s over 1 s, ``settings.py``), 0.0 % in both runs, p50 2.4-2.7 s,
recovery 1-2 s, 55-62 % refused with problem details.

Not told apart yet: a closed loop of thousands of shoppers whose misses lag the loop as
much (5,000 of them from a stale cache had ~6,600 misses refused in 15 s at either
threshold; refusing them does not lower the load, they ask again at once), though they
got more answers a second than with the overload left in the kernel.

Not shed: the probes and ``/metrics`` (an orchestrator must see a busy gateway as alive),
and hits kept in the process (``CachedHitMiddleware`` answers them first: a hit costs
about what a refusal does, so refusing one saves nothing). A deep queue of cheap hits, as
thousands of keep-alive shoppers make, is what the gateway is for; what it sheds is the
work that costs the loop several turns each: proxied calls and misses.

Each episode is logged once when it starts and once when it ends (how long, how many
refused); every refusal is counted in ``emporium_gateway_shed_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.gateway.errors import GatewayOverloaded
from emporium.kit.errors import problem_response
from emporium.kit.metrics import REGISTRY

__all__ = [
    "GATEWAY_LOOP_LAG",
    "GATEWAY_SHED",
    "OVERLOADED_TYPE",
    "TICK",
    "UNSHED_PATHS",
    "LagMonitor",
    "ShedMiddleware",
    "ShedPolicy",
    "monitoring",
]

log = logging.getLogger("emporium.gateway.shedding")

#: How often the monitor samples the loop's lag (seconds it sleeps between samples).
TICK = 0.05
#: Never refused: liveness, readiness and the scrape.
UNSHED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OVERLOADED_TYPE = GatewayOverloaded.type

GATEWAY_SHED = Counter(
    "emporium_gateway_shed_total",
    "Requests the gateway refused (503 gateway-overloaded) because its own loop lagged",
    registry=REGISTRY,
)
GATEWAY_LOOP_LAG = Gauge(
    "emporium_gateway_loop_lag_seconds",
    "How late the gateway's event loop last woke a timer (its latest sample)",
    registry=REGISTRY,
)


@dataclass(slots=True)
class ShedPolicy:
    """CoDel on the loop's lag, then a share of requests to refuse. Pure: fed samples.

    An episode starts once every sample for ``interval`` seconds was above ``target``.
    During it ``share`` (the fraction of requests refused) moves by up to ``rate`` per
    second, up while the lag is above the target and down while below, in proportion to
    how far it is (at most one target away counts); it ends once the share has been 0 for
    ``interval`` (a lag back above the target meanwhile raises it again at once). Refusing
    everything at the first sign, or stopping at the first good sample, was measured to
    oscillate: the loop empties, shedding stops, and the overload is back for another
    ``interval`` (shedding 0.2 s in 10: 44 % timeouts). The share settles where the
    gateway keeps up, and falls to 0 within about a second of the load dropping.
    """

    target: float
    interval: float
    rate: float = 1.0
    share: float = 0.0
    active: bool = False
    _above_since: float | None = None
    _last: float | None = None
    _armed_until: float = 0.0

    @property
    def shedding(self) -> bool:
        return self.share > 0.0

    def observe(self, lag: float, now: float) -> bool | None:
        """Take one sample taken at ``now``; True: an episode starts, False: it ends."""
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        above = lag >= self.target
        if not above:
            self._above_since = None
        elif self._above_since is None:
            # From this sample on, not from when the late timer was due: one long block
            # of the loop is a spike, whatever its length, and must not shed alone.
            self._above_since = now
        if self.active:
            error = max(-1.0, min(1.0, (lag - self.target) / self.target))
            self.share = max(0.0, min(1.0, self.share + self.rate * elapsed * error))
            if self.share > 0.0 or above:
                self._armed_until = now + self.interval
            elif now >= self._armed_until:
                self.active = False
                return False
            return None
        since = self._above_since
        if since is not None and now - since >= self.interval:
            self.active = True
            self.share = 0.1
            self._armed_until = now + self.interval
            return True
        return None


class LagMonitor:
    """Samples the loop's lag every ``TICK`` seconds into ``policy``; logs each episode."""

    def __init__(self, policy: ShedPolicy, *, retry_after: int = 1, tick: float = TICK) -> None:
        self.policy = policy
        self.retry_after = retry_after
        self.tick = tick
        self.lag = 0.0
        self.refused = 0  # in the current episode
        self._started_at = 0.0
        self._peak = 0.0

    @property
    def shedding(self) -> bool:
        return self.policy.shedding

    def refuses(self) -> bool:
        """Whether to refuse this request (the policy's share of them); counted."""
        share = self.policy.share
        if share <= 0.0 or (share < 1.0 and random.random() >= share):
            return False
        self.refused += 1
        GATEWAY_SHED.inc()
        return True

    async def run(self, clock: Callable[[], float] | None = None) -> None:
        loop = asyncio.get_running_loop()
        now = clock or loop.time
        while True:
            due = now() + self.tick
            await asyncio.sleep(self.tick)
            woke = now()
            self.sample(max(0.0, woke - due), woke)

    def sample(self, lag: float, now: float) -> None:
        """One lag sample (``run`` takes them; tests may feed their own)."""
        self.lag = lag
        GATEWAY_LOOP_LAG.set(lag)
        change = self.policy.observe(lag, now)
        if change is True:
            self._started_at, self._peak, self.refused = now, lag, 0
            log.warning(
                "overloaded: the event loop has lagged over %.2f s for %.1f s (now %.2f s); "
                "refusing a share of proxied calls with 503 until it catches up",
                self.policy.target,
                self.policy.interval,
                lag,
            )
        elif self.policy.active:
            self._peak = max(self._peak, lag)
        elif change is False:
            log.warning(
                "no longer overloaded (loop lag %.3f s): refused %d calls in %.1f s, "
                "peak lag %.2f s",
                lag,
                self.refused,
                now - self._started_at,
                self._peak,
            )


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


class ShedMiddleware:
    """Refuses every request but the probes while ``monitor`` sheds (pure ASGI; placed
    inside the request context and after the in-process hits, before the router)."""

    def __init__(self, app: ASGIApp, monitor: LagMonitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        monitor = self.monitor
        if (
            monitor.shedding
            and scope["type"] == "http"
            and scope["path"] not in UNSHED_PATHS
            and monitor.refuses()
        ):
            retry = max(1, math.ceil(monitor.retry_after))
            response = problem_response(
                status=503,
                type=OVERLOADED_TYPE,
                title=GatewayOverloaded.title,
                detail=f"the gateway is overloaded; retry in {retry} s",
                instance=scope["path"],
                headers={"Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
