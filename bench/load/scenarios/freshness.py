"""Stock changes seen through the gateway's cache: how long until a product page shows a
new stock level (changed directly at the catalog's admin API, so the gateway learns of it
only the way it would of a reservation by the saga: from catalog's events or its TTL)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.load.client import Api, session_from
from bench.load.context import Context
from bench.load.stats import summary

__all__ = ["run"]

POLL = 0.02
OK = (200, 502, 503, 504)  # a busy moment is polled through, not a failed trial


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    product = ctx.shop.products[41 % len(ctx.shop.products)]
    delays: list[float] = []
    unseen = 0
    limit = 15.0
    async with (
        session_from(ctx.pool.block(1).addresses()[0]) as admin_session,
        session_from(ctx.pool.block(1).addresses()[0]) as reader_session,
    ):
        admin = Api(admin_session, ctx.catalog, ctx.shop.admin_token)
        reader = Api(reader_session, ctx.gateway)
        for trial in range(ctx.sizes.freshness_trials):
            on_hand = 500 + trial + int(time.time()) % 1000
            await reader.call("GET", f"/api/v1/products/{product}", expect=OK)  # cached now
            await reader.call("GET", f"/api/v1/products/{product}", expect=OK)
            changed = time.monotonic()
            await admin.call("PUT", f"/admin/products/{product}/stock", json={"on_hand": on_hand})
            while True:
                status, page = await reader.call("GET", f"/api/v1/products/{product}", expect=OK)
                if status == 200 and page["availability"]["available"] == on_hand:
                    delays.append((time.monotonic() - changed) * 1000)
                    break
                if time.monotonic() - changed > limit:
                    unseen += 1
                    break
                await asyncio.sleep(POLL)
    row = {
        "trials": ctx.sizes.freshness_trials,
        "not_seen_within_s": limit,
        "unseen": unseen,
        "visible_after_ms": summary(delays),
    }
    log(
        f"stock change visible through the gateway after {row['visible_after_ms']} ({unseen} "
        "unseen)"
    )
    return row
