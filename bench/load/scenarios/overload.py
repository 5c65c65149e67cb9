"""(5) 120 % of saturation for a minute, open loop, on the gateway's uncached path
(``GET /products/{id}`` with customer tokens: every request reaches the catalog).

A probe at 10 % of saturation runs alongside, from its own addresses, and keeps going
after the overload stops: recovery is the time from the overload's end until the probe's
one-second windows are all answered 2xx with p99 within 2x (at least +20 ms) of its p99
before the overload began. Errors: anything but 2xx, except 429/503 answered with problem
details (shedding load the documented way); transport errors count as errors.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from bench.load.context import Context
from bench.load.generators import Target, vegeta
from bench.load.stats import percentile

__all__ = ["run"]

PROBE_LEAD = 5.0
PROBE_TAIL = 20.0


def recovery(
    samples: list[tuple[float, float, int]], overload_end: float, baseline_p99: float
) -> float | None:
    """Seconds from ``overload_end`` to the first 1 s window after which all are healthy."""
    windows: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for start, latency, code in samples:
        if start >= overload_end:
            windows[int(start - overload_end)].append((latency, code))
    if not windows:
        return None
    bound = max(2 * baseline_p99, baseline_p99 + 20)
    healthy = {
        second: all(200 <= code < 300 for _, code in rows)
        and (percentile([latency for latency, _ in rows], 0.99) or 0) <= bound
        for second, rows in windows.items()
    }
    last = max(healthy)
    for second in range(last + 1):
        if all(healthy.get(s, True) for s in range(second, last + 1)):
            return float(second)
    return None


async def run(ctx: Context, saturation: float, log: Any) -> dict[str, Any]:
    seconds = ctx.sizes.overload_seconds
    ids = ctx.shop.products[20:40] or ctx.shop.products
    target = Target(ctx.gateway, tuple(f"/api/v1/products/{pid}" for pid in ids), ctx.shop.tokens())
    rate = 1.2 * saturation
    probe_rate = max(5.0, 0.1 * saturation)
    probe_seconds = PROBE_LEAD + seconds + (PROBE_TAIL if not ctx.sizes.smoke else 3)
    probe_task = asyncio.create_task(
        vegeta(
            target,
            rate=probe_rate,
            seconds=probe_seconds,
            source=ctx.pool.block(2),
            keep_samples=True,
        )
    )
    await asyncio.sleep(PROBE_LEAD if not ctx.sizes.smoke else 1)
    overload, samples = await vegeta(
        target,
        rate=rate,
        seconds=seconds,
        source=ctx.vegeta_sources(rate, seconds, tokens=len(target.tokens)),
        keep_samples=True,
    )
    probe, probe_samples = await probe_task
    first = min(s for s, _, _ in samples) if samples else 0.0
    end = first + seconds
    before = [
        latency for start, latency, code in probe_samples if start < first and 200 <= code < 300
    ]
    baseline = percentile(before, 0.99) or (probe.latency.get("p99_ms") or 10.0)
    shed_ok = overload.facts.get("shed_with_problem_json", 0)
    answered = sum(n for c, n in overload.statuses.items() if c.startswith("2"))
    failures = overload.requests - answered - shed_ok
    goodput = answered / overload.seconds if overload.seconds else 0.0
    row = {
        "target": "GET /api/v1/products/{id} with customer tokens (uncached)",
        "saturation_per_s": round(saturation, 1),
        # Calls answered 2xx a second, and that against saturation: what refusing the
        # excess leaves of the gateway for the calls it serves.
        "goodput_per_s": round(goodput, 1),
        "goodput_share": round(goodput / saturation, 3) if saturation else None,
        "overload": overload.as_dict(),
        "error_rate": round(failures / overload.requests, 4) if overload.requests else None,
        "shed_429_503_problem_json": shed_ok,
        "probe": probe.as_dict(),
        "probe_p99_before_ms": round(baseline, 1),
        "recovery_seconds": recovery(probe_samples, end, baseline),
    }
    log(
        f"overload at {rate:.0f}/s for {seconds} s: {overload.statuses}, error rate "
        f"{row['error_rate']}, "
        f"p99 {overload.latency['p99_ms']} ms, recovery {row['recovery_seconds']} s, "
        f"answered 2xx {goodput:.0f}/s ({row['goodput_share']} of saturation)"
    )
    return row
