"""(2) N concurrent shoppers over a browsing mix, through the gateway, anonymous.

Each shopper is one keep-alive connection asking one thing after another without pause
(a closed loop: N requests always in flight), from one of N/5 loopback addresses (five
shoppers per address, as behind a home router), started evenly over a ramp. The mix:
product pages of any product, listings by category with sorts, price floors and in-stock
filters, searches, the category list, the newest products. The gateway's cache is made
stale first (an admin write through the gateway), and there are many more distinct
answers than shoppers' first requests, so most of those miss.

Figures over the window after the ramp (answers completed in it, whatever their status):
throughput, p50/p99, p99 against
2 x (connections / throughput) (Little's law: N / throughput is the mean time in the
system), 5xx, refused connections, other errors, 429s, X-Cache hit ratio, and this
generator's own CPU.
"""

from __future__ import annotations

import asyncio
import errno
import random
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.load.client import Api, session_from
from bench.load.context import Context
from bench.load.stats import summary

__all__ = ["paths", "run"]

SORTS = ("name", "price", "-price", "newest")


def paths(ctx: Context, rng: random.Random) -> list[str]:
    """A shuffled list of the mix's requests (drawn from in turn)."""
    shop = ctx.shop
    slugs = list(shop.categories)
    out: list[str] = []
    for _ in range(20_000):
        roll = rng.random()
        if roll < 0.45:
            out.append(f"/api/v1/products/{rng.choice(shop.products)}")
        elif roll < 0.70:
            query = f"category={rng.choice(slugs)}&sort={rng.choice(SORTS)}&limit=20"
            if rng.random() < 0.5:
                query += f"&min_price={rng.randrange(0, 20_000, 2_000)}"
            if rng.random() < 0.3:
                query += "&in_stock=true"
            out.append(f"/api/v1/products?{query}")
        elif roll < 0.85:
            out.append(
                f"/api/v1/products?q={rng.choice(shop.words)}&sort={rng.choice(SORTS)}&limit=20"
            )
        elif roll < 0.95:
            out.append("/api/v1/categories")
        else:
            out.append("/api/v1/products?sort=newest&limit=20")
    return out


async def make_stale(ctx: Context) -> None:
    """An admin write through the gateway: it makes the catalog's cached answers stale."""
    async with session_from(ctx.pool.block(1).addresses()[0]) as session:
        admin = Api(session, ctx.gateway, ctx.shop.admin_token)
        path = f"/api/v1/admin/products/{ctx.shop.products[-1]}/stock"
        try:
            await admin.call("PUT", path, json={"on_hand": 1_000}, expect=(200, 502, 503, 504))
        except (aiohttp.ClientError, TimeoutError):
            pass  # a platform too busy to answer: its cache expires by its TTL instead


async def shoppers(ctx: Context, count: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(count)
    mix = paths(ctx, rng)
    ramp = min(5.0, max(0.5, count / 1000))
    per_address = 5
    addresses = ctx.pool.block(-(-count // per_address)).addresses()
    await make_stale(ctx)
    started = time.monotonic()
    window_start = started + ramp
    window_end = window_start + seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    window_statuses: Counter[str] = Counter()
    cache: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    done_in_window = 0
    cpu0 = time.process_time()
    timeout = aiohttp.ClientTimeout(total=30)

    async def shopper(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal done_in_window
        await asyncio.sleep(ramp * index / count)
        position = rng.randrange(len(mix))
        while True:
            now = time.monotonic()
            if now >= window_end:
                return
            path = mix[position % len(mix)]
            position += 1
            try:
                async with session.get(ctx.gateway + path, timeout=timeout) as answer:
                    await answer.read()
                    status = answer.status
                    hit = answer.headers.get("X-Cache")
            except aiohttp.ClientConnectorError as error:
                refused = error.os_error is not None and error.os_error.errno == errno.ECONNREFUSED
                errors["refused" if refused else "connect"] += 1
                await asyncio.sleep(0.05)
                continue
            except (aiohttp.ClientError, TimeoutError) as error:
                errors[type(error).__name__] += 1
                continue
            end = time.monotonic()
            code = f"{status // 100}xx" if status != 429 else "429"
            statuses[code] += 1
            if hit:
                cache[hit.lower()] += 1
            if window_start <= end <= window_end:  # answers completed in the window
                done_in_window += 1
                latencies.append((end - now) * 1000)
                window_statuses[code] += 1

    sessions = []
    tasks = []
    for i, address in enumerate(addresses):
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                local_addr=(address, 0), limit=per_address, keepalive_timeout=30
            ),
            auto_decompress=False,
        )
        sessions.append(session)
        for j in range(per_address):
            index = i * per_address + j
            if index < count:
                tasks.append(asyncio.create_task(shopper(index, session)))
    # Requests still in flight after the window are cut: they would not count anyway.
    _, late = await asyncio.wait(tasks, timeout=max(0.0, window_end - time.monotonic()) + 1.0)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu0
    for session in sessions:
        await session.close()
    throughput = done_in_window / seconds
    figures = summary(latencies)
    bound = 2 * count / throughput * 1000 if throughput else None
    hits, misses = cache.get("hit", 0), cache.get("miss", 0)
    return {
        "shoppers": count,
        "source_addresses": len(addresses),
        "ramp_seconds": ramp,
        "window_seconds": seconds,
        "requests_in_window": done_in_window,
        "cut_at_window_end": len(late),
        "per_second": round(throughput, 1),
        "ok_per_second": round(window_statuses.get("2xx", 0) / seconds, 1),
        **figures,
        "p99_bound_ms": round(bound, 1) if bound else None,
        "p99_within_bound": bool(
            bound and figures["p99_ms"] is not None and figures["p99_ms"] <= bound
        ),
        "statuses": dict(statuses),
        "statuses_in_window": dict(window_statuses),
        "5xx": statuses.get("5xx", 0),
        "refused_connections": errors.get("refused", 0),
        "other_errors": {k: v for k, v in errors.items() if k != "refused"},
        "cache_hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "cache_hits": hits,
        "cache_misses": misses,
        "generator": "python asyncio + aiohttp (this process)",
        "generator_cpu_cores": round(cpu / wall, 2),
    }


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in ctx.sizes.shoppers:
        try:
            row = await shoppers(ctx, count, ctx.sizes.shopper_seconds)
        except Exception as error:  # keep the other counts' figures
            out[str(count)] = {"error": f"{type(error).__name__}: {error}"}
            log(f"{count} shoppers: {out[str(count)]['error']}")
            continue
        out[str(count)] = row
        log(
            f"{count} shoppers: {row['per_second']} req/s p50 {row['p50_ms']} p99 {row['p99_ms']} "
            "ms "
            f"(bound {row['p99_bound_ms']}), 5xx {row['5xx']}, refused "
            f"{row['refused_connections']}, "
            f"hit ratio {row['cache_hit_ratio']}, generator {row['generator_cpu_cores']} cores"
        )
        await asyncio.sleep(2)
    return out
