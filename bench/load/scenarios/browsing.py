"""Browsing with stock changes: the cache hit ratio the issue means, and freshness under it.

Shoppers browse through the gateway, anonymous, with a realistic skew: the mix of
``shoppers.py`` (product pages 45 %, category listings 25 %, searches 15 %, the category
list 10 %, the newest products 5 %), each kind's answers asked by Zipf rank (s = 1.1: the
popular products and listings far more often than the tail). Each shopper is a keep-alive
connection asking one thing after another without pause, from a loopback address of its
own: without pause a shopper asks some 40-60 times a second, so five behind one address
would pass the anonymous window (6,000 a minute) and most answers would be 429s, which
carry no cached answer and would leave the ratio to the few that got through.

After a warm-up (the same load, not counted: the cache fills as it would in a shop that
has been open a while), figures are taken over a window during which stock changes arrive
at a steady rate: the catalog admin API sets a product's on-hand count (what a reserved or
released unit does to the product's answers), products drawn by the same Zipf ranks
(popular products sell, so their stock moves most; never the checkout's 20 products, whose
stock the checkout scenario needs). Each change is then polled through the
gateway (its product page, every 20 ms, by a probe of its own whose requests are not in the
hit ratio) until the page shows the new count: the change's visibility delay.

Figures: the X-Cache hit ratio of the shoppers' answers in the window (overall and per
kind of request: which answers miss), the request rate, p50/p99, statuses, the stock
changes' visibility delays (p50/p99/max, and any not seen within 15 s), and this
generator's CPU.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.load.client import Api, session_from
from bench.load.context import Context
from bench.load.scenarios.shoppers import SORTS
from bench.load.stats import summary

__all__ = ["run", "zipf_weights"]

#: Zipf exponent of every kind's popularity (~1 is what web and shop catalogues show).
ZIPF_S = 1.1
#: Each kind of request: its share of the mix.
MIX = (("product", 0.45), ("listing", 0.25), ("search", 0.15), ("categories", 0.10))
POLL = 0.02
UNSEEN_AFTER = 15.0
PER_ADDRESS = 1


def zipf_weights(count: int, s: float = ZIPF_S) -> list[float]:
    """Cumulative Zipf weights of ranks 1..count (for ``bisect`` draws)."""
    return list(itertools.accumulate(1 / (rank**s) for rank in range(1, count + 1)))


class Catalogue:
    """Every answer the shoppers may ask for, per kind, in a fixed popularity order."""

    def __init__(self, ctx: Context, rng: random.Random) -> None:
        shop = ctx.shop
        products = list(shop.products)
        rng.shuffle(products)  # popularity unrelated to creation order (and stock)
        self.products = products
        self.checkout = frozenset(shop.checkout_products)
        listings = [
            f"/api/v1/products?category={slug}&sort={sort}&limit=20{floor}{stock}"
            for slug in shop.categories
            for sort in SORTS
            for floor in ("", "&min_price=2000", "&min_price=10000")
            for stock in ("", "&in_stock=true")
        ]
        rng.shuffle(listings)
        searches = [
            f"/api/v1/products?q={word}&sort={sort}&limit=20"
            for word in shop.words
            for sort in SORTS
        ]
        rng.shuffle(searches)
        self.kinds: dict[str, list[str]] = {
            "product": [f"/api/v1/products/{p}" for p in products],
            "listing": listings,
            "search": searches,
            "categories": ["/api/v1/categories"],
            "newest": ["/api/v1/products?sort=newest&limit=20"],
        }
        self.weights = {kind: zipf_weights(len(paths)) for kind, paths in self.kinds.items()}
        shares = [share for _, share in MIX]
        self.mix = [kind for kind, _ in MIX] + ["newest"]
        self.mix_weights = list(itertools.accumulate([*shares, 1 - sum(shares)]))

    def draw(self, rng: random.Random, kind: str) -> str:
        weights = self.weights[kind]
        index = bisect.bisect(weights, rng.random() * weights[-1])
        return self.kinds[kind][min(index, len(weights) - 1)]

    def next_request(self, rng: random.Random) -> tuple[str, str]:
        """(kind, path) of a shopper's next request."""
        kind = self.mix[bisect.bisect(self.mix_weights, rng.random() * self.mix_weights[-1])]
        return kind, self.draw(rng, kind)

    def product_to_change(self, rng: random.Random) -> str:
        """A product by the same ranks, never one of the checkout's (their stock of millions
        is what the checkout scenario after this one orders from)."""
        while True:
            product = self.draw(rng, "product").rsplit("/", 1)[1]
            if product not in self.checkout:
                return product


async def _stock_changes(
    ctx: Context,
    catalogue: Catalogue,
    rng: random.Random,
    *,
    rate: float,
    until: float,
    delays: list[float],
    unseen: list[str],
) -> int:
    """Stock changes at ``rate`` per second until ``until``; each one's delay is polled."""
    block = ctx.pool.block(2).addresses()
    probes: list[asyncio.Task[None]] = []
    last: dict[str, int] = {}
    async with (
        session_from(block[0]) as admin_session,
        session_from(block[1], limit=64) as probe_session,
    ):
        admin = Api(admin_session, ctx.catalog, ctx.shop.admin_token)
        probe = Api(probe_session, ctx.gateway)

        async def watch(product: str, on_hand: int, changed: float) -> None:
            while time.monotonic() - changed <= UNSEEN_AFTER:
                status, page = await probe.call(
                    "GET", f"/api/v1/products/{product}", expect=(200, 502, 503, 504)
                )
                if status == 200 and page["availability"]["available"] == on_hand:
                    delays.append((time.monotonic() - changed) * 1000)
                    return
                await asyncio.sleep(POLL)
            unseen.append(product)

        begin = time.monotonic()
        changes = 0
        while time.monotonic() < until:
            await asyncio.sleep(max(0.0, begin + changes / rate - time.monotonic()))
            product = catalogue.product_to_change(rng)
            if any(not task.done() and task.get_name() == product for task in probes):
                continue  # still watching its last change: take another product next time
            on_hand = 500 + rng.randrange(1000)
            if on_hand == last.get(product):
                on_hand += 1
            last[product] = on_hand
            await admin.call("PUT", f"/admin/products/{product}/stock", json={"on_hand": on_hand})
            changed = time.monotonic()
            changes += 1
            probes.append(asyncio.create_task(watch(product, on_hand, changed), name=product))
        await asyncio.gather(*probes)
    return changes


async def browsing(
    ctx: Context, *, shoppers: int, warm_up: float, seconds: float, changes_per_s: float
) -> dict[str, Any]:
    rng = random.Random(12)
    catalogue = Catalogue(ctx, rng)
    addresses = ctx.pool.block(-(-shoppers // PER_ADDRESS)).addresses()
    started = time.monotonic()
    window_start = started + warm_up
    window_end = window_start + seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    cache: Counter[tuple[str, str]] = Counter()
    errors: Counter[str] = Counter()
    cpu0 = time.process_time()
    timeout = aiohttp.ClientTimeout(total=30)

    async def shopper(index: int, session: aiohttp.ClientSession) -> None:
        own = random.Random(index)
        await asyncio.sleep(min(2.0, warm_up / 2) * index / shoppers)  # a ramp
        while True:
            sent = time.monotonic()
            if sent >= window_end:
                return
            kind, path = catalogue.next_request(own)
            try:
                async with session.get(ctx.gateway + path, timeout=timeout) as answer:
                    await answer.read()
                    status = answer.status
                    hit = (answer.headers.get("X-Cache") or "none").lower()
            except (aiohttp.ClientError, TimeoutError) as error:
                if window_start <= time.monotonic() <= window_end:
                    errors[type(error).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            end = time.monotonic()
            if window_start <= end <= window_end:  # answers completed in the window
                latencies.append((end - sent) * 1000)
                statuses[f"{status // 100}xx" if status != 429 else "429"] += 1
                cache[(kind, hit)] += 1

    sessions: list[aiohttp.ClientSession] = []
    tasks: list[asyncio.Task[Any]] = []
    for i, address in enumerate(addresses):
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                local_addr=(address, 0), limit=PER_ADDRESS, keepalive_timeout=30
            ),
            auto_decompress=False,
        )
        sessions.append(session)
        for j in range(PER_ADDRESS):
            index = i * PER_ADDRESS + j
            if index < shoppers:
                tasks.append(asyncio.create_task(shopper(index, session)))
    delays: list[float] = []
    unseen: list[str] = []
    try:
        await asyncio.sleep(max(0.0, window_start - time.monotonic()))
        changes = await _stock_changes(
            ctx,
            catalogue,
            random.Random(34),
            rate=changes_per_s,
            until=window_end,
            delays=delays,
            unseen=unseen,
        )
        _, late = await asyncio.wait(tasks, timeout=max(0.0, window_end - time.monotonic()) + 2)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for session in sessions:
            await session.close()
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu0
    kinds: dict[str, dict[str, Any]] = {}
    for kind in [*catalogue.kinds]:
        counted = {hit: n for (k, hit), n in cache.items() if k == kind}
        hits, misses = counted.get("hit", 0), counted.get("miss", 0)
        kinds[kind] = {
            "answers": sum(counted.values()),
            "distinct": len(catalogue.kinds[kind]),
            "hits": hits,
            "misses": misses,
            "other": {h: n for h, n in counted.items() if h not in ("hit", "miss")},
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        }
    hits = sum(n for (_, hit), n in cache.items() if hit == "hit")
    misses = sum(n for (_, hit), n in cache.items() if hit == "miss")
    answered = sum(statuses.values())
    return {
        "shoppers": shoppers,
        "source_addresses": len(addresses),
        "zipf_s": ZIPF_S,
        "warm_up_seconds": warm_up,
        "window_seconds": seconds,
        "stock_changes_per_s": changes_per_s,
        "stock_changes": changes,
        "per_second": round(answered / seconds, 1),
        **summary(latencies),
        "statuses": dict(statuses),
        "errors": dict(errors),
        "cache_hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "cache_hits": hits,
        "cache_misses": misses,
        "by_kind": kinds,
        "visible_after_ms": summary(delays),
        "not_seen_within_s": UNSEEN_AFTER,
        "unseen": len(unseen),
        "generator": "python asyncio + aiohttp (this process)",
        "generator_cpu_cores": round(cpu / wall, 2),
    }


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    sizes = ctx.sizes
    row = await browsing(
        ctx,
        shoppers=sizes.browsing_shoppers,
        warm_up=sizes.browsing_warm_up_seconds,
        seconds=sizes.browsing_seconds,
        changes_per_s=sizes.browsing_changes_per_s,
    )
    worst = row["visible_after_ms"].get("max_ms")
    log(
        f"browsing ({row['shoppers']} shoppers, {row['stock_changes_per_s']} stock changes/s): "
        f"hit ratio {row['cache_hit_ratio']} at {row['per_second']} req/s; by kind "
        + ", ".join(f"{k} {v['hit_ratio']}" for k, v in row["by_kind"].items())
        + f"; stock change visible after max {worst} ms ({row['unseen']} unseen)"
    )
    return row
