"""The demo shop: ~50 products in 8 categories with pictures, stock, and a demo customer with
an order history, created through the public API (``make seed``; the first ``make dev``).

    uv run python -m emporium.storefront.seed          # EMPORIUM_GATEWAY_URL, default :8000
    await seed_on_first_start("http://127.0.0.1:8000")  # scripts/dev.py: only if no products
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emporium.storefront.seed.credentials import Credentials, credentials_from_env
from emporium.storefront.seed.run import SeedError, SeedReport, catalog_is_empty, seed

__all__ = [
    "Credentials",
    "SeedError",
    "SeedReport",
    "credentials_from_env",
    "seed",
    "seed_on_first_start",
]


async def seed_on_first_start(
    gateway_url: str, *, say: Callable[[str], None] = print
) -> SeedReport | None:
    """Seed a shop that has no product yet; a failure is reported, never raised (dev only)."""
    started = time.monotonic()
    try:
        if not await catalog_is_empty(gateway_url):
            return None
        say("[seed] empty catalog: adding the demo data (EMPORIUM_DEV_SEED=0 skips this)")
        report = await seed(gateway_url, credentials_from_env(gateway_url), say=say)
    except Exception as error:  # the platform keeps running without demo data
        say(f"[seed] demo data not created: {error} (`make seed` finishes it)")
        return None
    say(f"[seed] demo data ready in {time.monotonic() - started:.1f} s ({report})")
    return report
