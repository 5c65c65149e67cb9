"""The gateway's own problems: what a client sees when a service cannot answer."""

from __future__ import annotations

from emporium.kit.errors import (
    NotFound,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    problem_type,
)

__all__ = [
    "BadGateway",
    "GatewayOverloaded",
    "RouteNotFound",
    "TooManyStreams",
    "UpstreamBusy",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class UpstreamUnavailable(ServiceUnavailable):
    """503: the service is down, refuses connections, or its circuit breaker is open."""

    type = problem_type("upstream-unavailable")


class UpstreamBusy(ServiceUnavailable):
    """503: every connection the gateway keeps to the service is in use; not a failure."""

    type = problem_type("upstream-busy")


class GatewayOverloaded(ServiceUnavailable):
    """503: the gateway itself is overloaded (its event loop lags); sent by ``shedding.py``."""

    type = problem_type("gateway-overloaded")


class TooManyStreams(TooManyRequests):
    """429: the customer already has as many event streams open as they may."""

    type = problem_type("too-many-streams")


class UpstreamTimeout(ProblemError):
    """504: the service did not answer in time."""

    status = 504
    type = problem_type("upstream-timeout")
    title = "Gateway Timeout"


class BadGateway(ProblemError):
    """502: the service answered something that is not HTTP, or hung up mid-answer."""

    status = 502
    type = problem_type("bad-gateway")
    title = "Bad Gateway"


class RouteNotFound(NotFound):
    """404: no public API path matches."""
