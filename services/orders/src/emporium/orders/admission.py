"""Admission: at most ``limit`` HTTP requests in flight; the next ones wait, briefly, or get 503.

Orders runs its HTTP requests and the saga's workers (relay, consumer, payments) on one event
loop. Hundreds of requests at once make every one of them slow (each waits its turn on the
loop and for a pooled connection) and starve the workers, so orders placed are confirmed
seconds later. With a cap, admitted requests finish quickly, and a request that finds no
free slot within ``wait_seconds`` is answered at once with a 503 problem (``Retry-After``),
which a client (or the gateway) can retry, instead of waiting into a 504.

Probes (``/healthz``, ``/readyz``, ``/metrics``) and the long-lived event streams
(``.../events``) are never held back: a liveness check must not fail because the shop is
busy, and a stream would hold its slot for minutes.
"""

from __future__ import annotations

import asyncio
import collections

from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.kit.errors import problem_response, problem_type

__all__ = ["Admission", "Gate", "is_exempt"]

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def is_exempt(path: str) -> bool:
    """Requests that never wait for a slot: probes and event streams."""
    return path in _PROBES or path.endswith("/events")


class Gate:
    """A first-come first-served counter of ``limit`` slots with a bounded wait."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self, wait_seconds: float) -> bool:
        """Take a slot; False if none came free within ``wait_seconds``."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        if wait_seconds <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=wait_seconds)
        except TimeoutError:
            if waiter.done():
                return True  # handed a slot just as the wait ran out: it is ours
            self._give_up(waiter)
            return False
        except asyncio.CancelledError:
            if waiter.done():
                self.leave()  # handed a slot we will not use: pass it on
            else:
                self._give_up(waiter)
            raise
        return True

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        self._waiters.remove(waiter)

    def leave(self) -> None:
        """Give a slot back: to the longest waiter, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: in_flight is unchanged
                return
        self.in_flight -= 1


class Admission:
    """Pure ASGI middleware holding HTTP requests to a ``Gate``'s slots (see the module doc)."""

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.gate = Gate(limit)
        self.wait_seconds = wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self.gate.enter(self.wait_seconds):
            response = problem_response(
                status=503,
                type=problem_type("service-unavailable"),
                detail="Too many requests in flight; retry in a moment.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()
