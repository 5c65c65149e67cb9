"""The shop's pages (``/``): catalog, cart and its codes, account, checkout, orders, and
the header's currency picker."""

from __future__ import annotations

from fastapi import APIRouter

from emporium.storefront.shop import account, cart, catalog, checkout, codes, orders, picker

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (catalog, cart, codes, account, checkout, orders, picker):
    router.include_router(_module.router)
