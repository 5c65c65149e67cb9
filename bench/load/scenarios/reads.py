"""(1) Product and listing GETs: direct to catalog, through nginx, the gateway's cache, the
gateway with a customer token (never cached); and both /healthz. For each: saturation with
wrk (closed loop), then p50/p99 with vegeta at 50 % of that rate (open loop).

A case's saturation is the median of ``ROUNDS`` wrk runs of ``ROUND_SECONDS``, taken in
rounds over every case (each case once, then again): one 5 s run varied by about a quarter
between runs, and what disturbs the machine for a while then falls on every case alike, so
the ratios the targets compare (token vs direct) are of the same moments. The smoke run
times one round of its own length.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.load.context import Context
from bench.load.generators import Load, Target, vegeta, wrk

__all__ = ["ROUNDS", "ROUND_SECONDS", "cases", "run"]

#: wrk runs per case in the full run; the saturation figure is their median.
ROUNDS = 3
#: Each of those runs (the whole saturation part: 10 cases x 9 s, was 10 x 5 s).
ROUND_SECONDS = 3.0


def cases(ctx: Context) -> list[tuple[str, Target]]:
    ids = ctx.shop.products[20:40] or ctx.shop.products
    product = tuple(f"/products/{pid}" for pid in ids)
    listing = ("/products?limit=20",)
    api = "/api/v1"
    tokens = ctx.shop.tokens()
    out: list[tuple[str, Target]] = []
    for kind, paths in (("product", product), ("listing", listing)):
        out += [
            (f"{kind} direct", Target(ctx.catalog, paths)),
            (f"{kind} nginx", Target(ctx.nginx, paths)),
            (f"{kind} gateway cached", Target(ctx.gateway, tuple(api + p for p in paths))),
            (f"{kind} gateway token", Target(ctx.gateway, tuple(api + p for p in paths), tokens)),
        ]
    out += [
        ("gateway /healthz", Target(ctx.gateway, ("/healthz",))),
        ("catalog /healthz", Target(ctx.catalog, ("/healthz",))),
    ]
    return out


async def saturate(ctx: Context, target: Target, seconds: float) -> Load:
    """One wrk run at the run's connections, from addresses of its own."""
    connections = ctx.sizes.wrk_connections
    return await wrk(
        target, seconds=seconds, connections=connections, source=ctx.pool.block(connections)
    )


def median_run(runs: list[Load]) -> Load:
    """The run whose rate is the median (of an odd count; the lower middle of an even one)."""
    ranked = sorted(runs, key=lambda load: load.per_second)
    return ranked[(len(ranked) - 1) // 2]


async def at_half(ctx: Context, target: Target, saturation: Load) -> Load:
    """vegeta at 50 % of the saturation."""
    seconds = ctx.sizes.latency_seconds
    rate = max(10.0, saturation.per_second / 2)
    half, _ = await vegeta(
        target,
        rate=rate,
        seconds=seconds,
        source=ctx.vegeta_sources(rate, seconds, tokens=len(target.tokens)),
    )
    return half


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    sizes = ctx.sizes
    rounds, seconds = (1, sizes.saturation_seconds) if sizes.smoke else (ROUNDS, ROUND_SECONDS)
    targets = cases(ctx)
    runs: dict[str, list[Load]] = {name: [] for name, _ in targets}
    for _ in range(rounds):
        for name, target in targets:
            runs[name].append(await saturate(ctx, target, seconds))
    rows: dict[str, Any] = {}
    for name, target in targets:
        saturation = median_run(runs[name])
        half = await at_half(ctx, target, saturation)
        rates = [round(load.per_second, 1) for load in runs[name]]
        rows[name] = {
            "saturation": saturation.as_dict(),
            "saturation_runs": rates,
            "at_50_percent": half.as_dict(),
        }
        log(
            f"{name}: {saturation.per_second:.0f} req/s saturated{_spread(rates)}; at "
            f"{half.rate:.0f}/s p50 {half.latency['p50_ms']} ms p99 {half.latency['p99_ms']} ms "
            f"{half.statuses}"
        )
    return rows


def _spread(rates: list[float]) -> str:
    """`` (median of a, b, c: spread n %)`` for more than one run, else nothing."""
    if len(rates) < 2:
        return ""
    middle = statistics.median(rates)
    spread = (max(rates) - min(rates)) / middle if middle else 0.0
    return f" (median of {', '.join(f'{r:.0f}' for r in rates)}: spread {spread:.0%})"
