"""(1) Product and listing GETs: direct to catalog, through nginx, the gateway's cache, the
gateway with a customer token (never cached); and both /healthz. For each: saturation with
wrk (closed loop), then p50/p99 with vegeta at 50 % of that rate (open loop)."""

from __future__ import annotations

from typing import Any

from bench.load.context import Context
from bench.load.generators import Load, Target, vegeta, wrk

__all__ = ["cases", "run"]


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


async def measure(ctx: Context, target: Target) -> tuple[Load, Load]:
    """Saturation, then 50 % of it."""
    sizes = ctx.sizes
    saturation = await wrk(
        target,
        seconds=sizes.saturation_seconds,
        connections=sizes.wrk_connections,
        source=ctx.pool.block(sizes.wrk_connections),
    )
    rate = max(10.0, saturation.per_second / 2)
    half, _ = await vegeta(
        target,
        rate=rate,
        seconds=sizes.latency_seconds,
        source=ctx.vegeta_sources(rate, sizes.latency_seconds, tokens=len(target.tokens)),
    )
    return saturation, half


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, target in cases(ctx):
        saturation, half = await measure(ctx, target)
        rows[name] = {"saturation": saturation.as_dict(), "at_50_percent": half.as_dict()}
        log(
            f"{name}: {saturation.per_second:.0f} req/s saturated; at {half.rate:.0f}/s "
            f"p50 {half.latency['p50_ms']} ms p99 {half.latency['p99_ms']} ms {half.statuses}"
        )
    return rows
