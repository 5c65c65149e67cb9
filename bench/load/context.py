"""What every scenario needs: addresses, the shop, the run's sizes and where things listen."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.load.addresses import Block, Pool
from bench.load.seed import Shop

__all__ = ["Context", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    """How long and how big: the full run, or a few seconds of each (``--smoke``)."""

    smoke: bool
    saturation_seconds: float  # each wrk run
    latency_seconds: float  # each vegeta run at 50 %
    wrk_connections: int
    shoppers: tuple[int, ...]
    shopper_seconds: float
    checkout_customers: int
    checkout_seconds: float
    single_orders: int
    overload_seconds: float
    pipeline_events: int
    products: int
    freshness_trials: int
    # Browsing with stock changes (``scenarios/browsing.py``).
    browsing_shoppers: int = 100
    browsing_warm_up_seconds: float = 15.0
    browsing_seconds: float = 20.0
    browsing_changes_per_s: float = 2.0
    # Shoppers per generator process (``scenarios/shoppers.py``); the smoke run's 200 use
    # two, so the split over processes runs in ``make test`` too.
    shoppers_per_process: int = 2_500

    @classmethod
    def full(cls) -> Sizes:
        return cls(False, 5, 5, 64, (1000, 5000), 15, 250, 20, 20, 60, 10_000, 600, 5)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            True,
            2,
            2,
            16,
            (50, 200),
            2,
            20,
            2,
            2,
            3,
            200,
            100,
            1,
            browsing_shoppers=20,
            browsing_warm_up_seconds=2.0,
            browsing_seconds=3.0,
            shoppers_per_process=100,
        )


@dataclass
class Context:
    gateway: str
    catalog: str
    nginx: str
    shop: Shop
    pool: Pool
    sizes: Sizes
    anonymous_limit: int  # the gateway's per-address window (requests per window)
    customer_limit: int
    window_seconds: int

    def vegeta_sources(self, rate: float, seconds: float, *, tokens: int = 0) -> Block:
        """Enough vegeta processes (one address each) that no address, or with ``tokens``
        customers' tokens in turn no customer, uses over 40 % of its window: 2 to 16."""
        in_window = rate * min(seconds, self.window_seconds)
        if tokens:  # counted per customer: the addresses do not matter
            count = 2 if in_window / tokens <= 0.4 * self.customer_limit else 16
        else:
            count = math.ceil(in_window / (0.4 * self.anonymous_limit))
        return self.pool.block(min(16, max(2, count)))
