"""Latency figures from samples (milliseconds) and rates."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "summary"]


def percentile(samples: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``samples`` (None when there are none)."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(samples_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max of ``samples_ms``, rounded to 0.1 ms."""
    out: dict[str, float | None] = {}
    for name, fraction in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0)):
        value = percentile(samples_ms, fraction)
        out[name] = None if value is None else round(value, 1)
    return out
