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
import multiprocessing
import random
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load.client import Api, session_from
from bench.load.context import Context
from bench.load.stats import summary

__all__ = ["paths", "run"]

SORTS = ("name", "price", "-price", "newest")
SPAWN_SECONDS = 3.0  # a spawned generator process imports aiohttp and the bench in ~1 s


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


@dataclass(frozen=True)
class Share:
    """One generator process's part of the shoppers: its addresses (with the index of each
    address's first shopper, for the ramp) and the run's common clock (``time.monotonic``
    is the same clock in every process)."""

    gateway: str
    mix: list[str]
    addresses: list[tuple[str, int]]
    count: int  # all shoppers, over every share
    per_address: int
    ramp: float
    started: float
    window_start: float
    window_end: float
    seed: int


@dataclass
class Tally:
    """What one share measured; shares add up (latencies are concatenated)."""

    latencies: list[float] = field(default_factory=list)
    # The same answers' latencies by the gateway's X-Cache (hit, miss, none), to tell
    # whose tail the p99 is.
    by_cache: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    window_statuses: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    done_in_window: int = 0
    late: int = 0
    cpu_seconds: float = 0.0

    def add(self, other: Tally) -> None:
        self.latencies += other.latencies
        for kind, values in other.by_cache.items():
            self.by_cache.setdefault(kind, []).extend(values)
        self.statuses += other.statuses
        self.window_statuses += other.window_statuses
        self.cache += other.cache
        self.errors += other.errors
        self.done_in_window += other.done_in_window
        self.late += other.late
        self.cpu_seconds += other.cpu_seconds


async def run_share(share: Share) -> Tally:
    """The closed loop of one share's shoppers, from ``share.started`` to the window's end."""
    rng = random.Random(share.seed)
    mix = share.mix
    tally = Tally()
    cpu0 = time.process_time()
    timeout = aiohttp.ClientTimeout(total=30)
    await asyncio.sleep(max(0.0, share.started - time.monotonic()))

    async def shopper(index: int, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(
            max(0.0, share.started + share.ramp * index / share.count - time.monotonic())
        )
        position = rng.randrange(len(mix))
        while True:
            now = time.monotonic()
            if now >= share.window_end:
                return
            path = mix[position % len(mix)]
            position += 1
            try:
                async with session.get(share.gateway + path, timeout=timeout) as answer:
                    await answer.read()
                    status = answer.status
                    hit = answer.headers.get("X-Cache")
            except aiohttp.ClientConnectorError as error:
                refused = error.os_error is not None and error.os_error.errno == errno.ECONNREFUSED
                tally.errors["refused" if refused else "connect"] += 1
                await asyncio.sleep(0.05)
                continue
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.errors[type(error).__name__] += 1
                continue
            end = time.monotonic()
            code = f"{status // 100}xx" if status != 429 else "429"
            tally.statuses[code] += 1
            if hit:
                tally.cache[hit.lower()] += 1
            if share.window_start <= end <= share.window_end:  # answers completed in the window
                tally.done_in_window += 1
                took = (end - now) * 1000
                tally.latencies.append(took)
                tally.by_cache.setdefault(hit.lower() if hit else "none", []).append(took)
                tally.window_statuses[code] += 1

    sessions = []
    tasks = []
    for address, first in share.addresses:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                local_addr=(address, 0), limit=share.per_address, keepalive_timeout=30
            ),
            auto_decompress=False,
        )
        sessions.append(session)
        for index in range(first, min(first + share.per_address, share.count)):
            tasks.append(asyncio.create_task(shopper(index, session)))
    # Requests still in flight after the window are cut: they would not count anyway.
    _, late = await asyncio.wait(tasks, timeout=max(0.0, share.window_end - time.monotonic()) + 1.0)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    tally.late = len(late)
    tally.cpu_seconds = time.process_time() - cpu0
    for session in sessions:
        await session.close()
    return tally


def _share_in_process(share: Share) -> Tally:
    return asyncio.run(run_share(share))


def processes_for(count: int, per_process: int = 2_500) -> int:
    """Generator processes: one per ``per_process`` shoppers (one asyncio + aiohttp process
    saturates its core near 2,500 answers/s, and a saturated generator's own queueing
    shows up in the tail it measures)."""
    return max(1, -(-count // per_process))


async def shoppers(ctx: Context, count: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(count)
    mix = paths(ctx, rng)
    ramp = min(5.0, max(0.5, count / 1000))
    per_address = 5
    addresses = ctx.pool.block(-(-count // per_address)).addresses()
    await make_stale(ctx)
    workers = processes_for(count, ctx.sizes.shoppers_per_process)
    # Spawned processes need a moment to start (imports) before the common start.
    started = time.monotonic() + (SPAWN_SECONDS if workers > 1 else 0.0)
    window_start = started + ramp
    numbered = [(address, i * per_address) for i, address in enumerate(addresses)]
    shares = [
        Share(
            ctx.gateway,
            mix,
            numbered[k::workers],  # interleaved: every process ramps over the whole ramp
            count,
            per_address,
            ramp,
            started,
            window_start,
            window_start + seconds,
            count * 10 + k,
        )
        for k in range(workers)
    ]
    tally = Tally()
    if workers == 1:
        tally.add(await run_share(shares[0]))
    else:
        loop = asyncio.get_running_loop()
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            parts = [loop.run_in_executor(pool, _share_in_process, share) for share in shares]
            for part in await asyncio.gather(*parts):
                tally.add(part)
    wall = time.monotonic() - started
    throughput = tally.done_in_window / seconds
    figures = summary(tally.latencies)
    bound = 2 * count / throughput * 1000 if throughput else None
    hits, misses = tally.cache.get("hit", 0), tally.cache.get("miss", 0)
    return {
        "shoppers": count,
        "source_addresses": len(addresses),
        "ramp_seconds": ramp,
        "window_seconds": seconds,
        "requests_in_window": tally.done_in_window,
        "cut_at_window_end": tally.late,
        "per_second": round(throughput, 1),
        "ok_per_second": round(tally.window_statuses.get("2xx", 0) / seconds, 1),
        **figures,
        "p99_bound_ms": round(bound, 1) if bound else None,
        "by_cache": {
            kind: {"answers": len(values), **summary(values)}
            for kind, values in sorted(tally.by_cache.items())
        },
        "p99_within_bound": bool(
            bound and figures["p99_ms"] is not None and figures["p99_ms"] <= bound
        ),
        "statuses": dict(tally.statuses),
        "statuses_in_window": dict(tally.window_statuses),
        "5xx": tally.statuses.get("5xx", 0),
        "refused_connections": tally.errors.get("refused", 0),
        "other_errors": {k: v for k, v in tally.errors.items() if k != "refused"},
        "cache_hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "cache_hits": hits,
        "cache_misses": misses,
        "generator": f"python asyncio + aiohttp, {workers} process(es)",
        "generator_processes": workers,
        # Summed over the processes (the parent only waits): cores of the generator.
        "generator_cpu_cores": round(tally.cpu_seconds / wall, 2),
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
            f"hit ratio {row['cache_hit_ratio']}, generator {row['generator_cpu_cores']} cores; "
            + ", ".join(f"{k} p99 {v['p99_ms']}" for k, v in row["by_cache"].items())
        )
        await asyncio.sleep(2)
    return out
