"""(3) Checkout through the gateway: cart -> ``POST /orders`` -> the saga -> ``confirmed``.

- sustained: every customer places orders back to back for a while (a closed loop on the
  202); orders/s = orders confirmed / (last confirmation - first POST), so the saga's
  backlog after the load is counted too;
- 50 % and 80 % of that rate, open loop (a new checkout every 1/rate s, by the next free
  customer): placed -> confirmed p50/p99, the time from sending ``POST /orders`` to the
  ``confirmed`` entry of the order's history (the same clock: everything is on this host);
- one order alone, several times in a row, the same figure;
- commit -> publish lag of every outbox row written meanwhile (``sent_at - created_at``,
  each service's database; on PostgreSQL ``sent_at`` is when the relay claimed the row for
  the publish that succeeded, a few milliseconds before the broker acknowledged it, and
  ``created_at`` is the writer's clock at the insert, before its commit) and consumer lag
  (commit -> ``handled_at`` of the inbox row of each consumer group), plus the peaks of
  ``emporium_consumer_lag`` and ``emporium_outbox_oldest_age_seconds`` scraped from the
  services' ``/metrics``.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from bench.load.client import Api, ApiError, session_from
from bench.load.context import Context
from bench.load.seed import Customer
from bench.load.stats import summary

__all__ = ["run"]

ADDRESS = {"line1": "1 Bench Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FINAL = {"confirmed", "rejected", "cancelled", "shipped"}
READS_AT_ONCE = 8  # order reads in flight while settling
STILL_PENDING = 16  # a settling round ends at this many pending orders in a row
# A second platform on other ports and databases (as BENCH_STATE is its own shop file):
# BENCH_SERVICE_PORTS="8401,8402,8403" (catalog, customers, orders) and
# BENCH_DATABASE_SUFFIX="_h21" (databases catalog_h21, ...). Unset: make up's.
_PORTS = os.environ.get("BENCH_SERVICE_PORTS") or "8001,8002,8003"
SERVICES = dict(zip(("catalog", "customers", "orders"), map(int, _PORTS.split(",")), strict=True))
DATABASE_SUFFIX = os.environ.get("BENCH_DATABASE_SUFFIX", "")


@dataclass
class Placed:
    order_id: str
    customer: Customer
    sent_at: float  # epoch s, when POST /orders was sent
    accept_ms: float
    status: str = "pending"
    confirmed_at: float | None = None
    reason: str | None = None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Checkout:
    def __init__(self, ctx: Context, session: aiohttp.ClientSession) -> None:
        self.ctx = ctx
        self.session = session
        self.rng = random.Random(3)
        self.failures: Counter[str] = Counter()

    async def place(self, customer: Customer) -> Placed | None:
        api = Api(self.session, self.ctx.gateway, customer.token)
        product = self.rng.choice(self.ctx.shop.checkout_products)
        try:
            await api.call("PUT", f"/api/v1/cart/items/{product}", json={"quantity": 1})
            sent = time.time()
            _, order = await api.call(
                "POST",
                "/api/v1/orders",
                json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
                headers={"Idempotency-Key": str(uuid.uuid4())},
                expect=(201, 202),
            )
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            # The same failure of any product or order counts once, whatever its id.
            self.failures[_ID.sub("{id}", str(error))[:110]] += 1
            return None
        return Placed(order["id"], customer, sent, (time.time() - sent) * 1000)

    async def read(self, p: Placed) -> None:
        """One read of ``p``: its status, and when it was confirmed (the server's clock)."""
        api = Api(self.session, self.ctx.gateway, p.customer.token)
        try:
            _, order = await api.call("GET", f"/api/v1/orders/{p.order_id}")
        except (ApiError, aiohttp.ClientError, TimeoutError):
            return
        p.status = order["status"]
        p.reason = order.get("status_reason")
        for entry in order.get("history", []):
            if entry["status"] == "confirmed":
                p.confirmed_at = _epoch(entry["at"])

    async def settle(self, placed: list[Placed], *, wait: float) -> None:
        """Read each order until it is final (or ``wait`` s have passed).

        The reads must not slow the saga they wait for (a read of every pending order
        every 0.25 s kept the orders service busy with reads during the sustained run's
        drain): a round reads pending orders oldest first, a few at a time, and ends at
        a run of ``STILL_PENDING`` orders still pending, since the saga takes orders
        about in the order they were placed. When an order was confirmed is its
        history's time, so reading it late changes no figure.
        """
        deadline = time.monotonic() + wait
        while pending := [p for p in placed if p.status not in FINAL]:
            last = time.monotonic() >= deadline  # the last round reads every one left
            still = 0
            for start in range(0, len(pending), READS_AT_ONCE):
                batch = pending[start : start + READS_AT_ONCE]
                await asyncio.gather(*(self.read(p) for p in batch))
                still = still + len(batch) if all(p.status not in FINAL for p in batch) else 0
                if still >= STILL_PENDING and not last:
                    break
            if last:
                return
            await asyncio.sleep(0.25)


def _latencies(placed: list[Placed]) -> dict[str, Any]:
    confirmed = [p for p in placed if p.confirmed_at is not None]
    return {
        "orders": len(placed),
        "confirmed": len(confirmed),
        "statuses": dict(Counter(p.status for p in placed)),
        "rejections": dict(Counter(f"{p.reason}"[:80] for p in placed if p.status == "rejected")),
        "placed_to_confirmed": summary(
            [(p.confirmed_at - p.sent_at) * 1000 for p in confirmed if p.confirmed_at]
        ),
        "accepted": summary([p.accept_ms for p in placed]),
    }


async def sustained(check: Checkout, customers: list[Customer], seconds: float) -> dict[str, Any]:
    placed: list[Placed] = []
    end = time.monotonic() + seconds
    start = time.time()

    async def loop(customer: Customer) -> None:
        while time.monotonic() < end:
            order = await check.place(customer)
            if order is None:
                await asyncio.sleep(0.2)
            else:
                placed.append(order)

    await asyncio.gather(*(loop(c) for c in customers))
    accepted_per_s = len(placed) / seconds
    await check.settle(placed, wait=60)
    confirmed = [p.confirmed_at for p in placed if p.confirmed_at is not None]
    span = (max(confirmed) - start) if confirmed else seconds
    return {
        "customers": len(customers),
        "load_seconds": seconds,
        "accepted_per_s": round(accepted_per_s, 1),
        "confirmed_per_s": round(len(confirmed) / span, 1) if confirmed else 0.0,
        "drain_seconds": round(span - seconds, 1),
        **_latencies(placed),
    }


async def at_rate(
    check: Checkout, customers: list[Customer], rate: float, seconds: float
) -> dict[str, Any]:
    free: asyncio.Queue[Customer] = asyncio.Queue()
    for customer in customers:
        free.put_nowait(customer)
    placed: list[Placed] = []
    busy_skips = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(customer: Customer) -> None:
        order = await check.place(customer)
        if order is not None:
            placed.append(order)
        free.put_nowait(customer)

    begin = time.monotonic()
    n = 0
    while (due := begin + n / rate) < begin + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        n += 1
        if free.empty():
            busy_skips += 1
            continue
        tasks.append(asyncio.create_task(one(free.get_nowait())))
    await asyncio.gather(*tasks)
    await check.settle(placed, wait=60)
    return {
        "rate": round(rate, 1),
        "seconds": seconds,
        "no_free_customer": busy_skips,
        **_latencies(placed),
    }


async def alone(check: Checkout, customers: list[Customer], count: int) -> dict[str, Any]:
    placed: list[Placed] = []
    for customer in customers[:count]:
        order = await check.place(customer)
        if order is None:
            continue
        await check.settle([order], wait=15)
        placed.append(order)
        await asyncio.sleep(0.2)
    return _latencies(placed)


async def _metrics(
    session: aiohttp.ClientSession, stop: asyncio.Event, peaks: dict[str, float]
) -> None:
    pattern = re.compile(
        r"^(emporium_consumer_lag|emporium_outbox_oldest_age_seconds)\{([^}]*)\} ([0-9.eE+-]+)$"
    )
    while not stop.is_set():
        for service, port in SERVICES.items():
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    text = await answer.text()
            except (aiohttp.ClientError, TimeoutError):
                continue
            for line in text.splitlines():
                found = pattern.match(line)
                if found:
                    key = f"{service} {found.group(1)} {{{found.group(2)}}}"
                    peaks[key] = max(peaks.get(key, 0.0), float(found.group(3)))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def event_lags(since: float, until: float) -> dict[str, Any]:
    """commit -> publish (outbox) and commit -> handled (inbox) of events in [since, until]."""
    import asyncpg

    base = os.environ.get("EMPORIUM_POSTGRES_URL", "").rsplit("/", 1)[0]
    if not base:
        return {"error": "EMPORIUM_POSTGRES_URL not set (load var/infra.env)"}
    committed: dict[str, float] = {}
    publish: dict[str, list[float]] = defaultdict(list)
    handled: dict[str, list[float]] = defaultdict(list)
    inboxes: list[Any] = []  # matched once every service's outbox is read
    for service in SERVICES:
        try:
            conn = await asyncpg.connect(f"{base}/{service}{DATABASE_SUFFIX}")
        except (OSError, asyncpg.PostgresError) as error:
            return {"error": f"{service}: {error}"}
        try:
            rows = await conn.fetch(
                "SELECT id::text, extract(epoch FROM created_at)::float8 AS c, "
                "extract(epoch FROM sent_at)::float8 AS s FROM outbox_message "
                "WHERE created_at >= to_timestamp($1) AND created_at <= to_timestamp($2)",
                since,
                until,
            )
            for row in rows:
                committed[row["id"]] = row["c"]
                if row["s"] is not None:
                    publish[service].append((row["s"] - row["c"]) * 1000)
            inbox = await conn.fetch(
                "SELECT consumer_group, event_id::text, extract(epoch FROM handled_at)::float8 AS "
                "h "
                "FROM inbox_message WHERE handled_at >= to_timestamp($1)",
                since,
            )
        except asyncpg.PostgresError as error:
            return {"error": f"{service}: {error}"}
        finally:
            await conn.close()
        inboxes.extend(inbox)
    for row in inboxes:
        created = committed.get(row["event_id"])
        if created is not None:  # an event written in the window, by any service
            handled[row["consumer_group"]].append((row["h"] - created) * 1000)
    return {
        "commit_to_publish_ms": {s: {"events": len(v), **summary(v)} for s, v in publish.items()},
        "commit_to_handled_ms": {g: {"events": len(v), **summary(v)} for g, v in handled.items()},
    }


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    sizes = ctx.sizes
    customers = [c for c in ctx.shop.customers[: sizes.checkout_customers] if c.token]
    out: dict[str, Any] = {}
    peaks: dict[str, float] = {}
    stop = asyncio.Event()
    async with session_from(ctx.pool.block(1).addresses()[0], limit=400, timeout=30) as session:
        check = Checkout(ctx, session)
        scraper = asyncio.create_task(_metrics(session, stop, peaks))
        since = time.time()
        out["alone"] = await alone(check, customers, sizes.single_orders)
        log(f"one order alone: {out['alone']['placed_to_confirmed']}")
        out["sustained"] = await sustained(check, customers, sizes.checkout_seconds)
        rate = max(1.0, float(out["sustained"]["confirmed_per_s"]))
        log(
            f"sustained: {out['sustained']['confirmed_per_s']} orders/s confirmed "
            f"({out['sustained']['accepted_per_s']}/s accepted, drain "
            f"{out['sustained']['drain_seconds']} s)"
        )
        for share in (0.5, 0.8):
            row = await at_rate(check, customers, rate * share, sizes.checkout_seconds)
            out[f"at_{int(share * 100)}_percent"] = row
            log(
                f"{int(share * 100)} % ({row['rate']}/s): placed->confirmed "
                f"{row['placed_to_confirmed']}"
            )
        until = time.time()
        stop.set()
        await scraper
        out["failures"] = dict(check.failures)
        if check.failures:
            log(f"failed checkouts: {dict(check.failures)}")
    out["metrics_peaks"] = peaks
    out["event_lags"] = await event_lags(since, until)
    return out
