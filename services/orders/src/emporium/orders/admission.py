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

from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.kit.admission import FairLine
from emporium.kit.errors import problem_response, problem_type

__all__ = ["Admission", "Gate", "is_exempt"]

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def is_exempt(path: str) -> bool:
    """Requests that never wait for a slot: probes and event streams."""
    return path in _PROBES or path.endswith("/events")


class Gate(FairLine):
    """The kit's first-come first-served line of ``limit`` slots, with a bounded wait
    (``enter(wait_seconds)`` is False when none came free in time); ``in_flight`` counts the
    requests holding a slot."""

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self.in_use


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
