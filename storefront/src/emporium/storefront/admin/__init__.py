"""The admin (``/admin/``): products (with options, variants and stock per location),
stock locations, orders, customers and the checkout's pricing rules
(shipping zones, tax rates, promotions), for the ``admin`` role only.

Every page depends on ``AdminDep``: a signed-out visitor is sent to sign in, a customer gets
the 403 page. Like the shop, it is a client of the public API and nothing else: each page
reads what it shows from ``/api/v1/...`` with the admin's own token, and every change is
one API call whose problems are shown beside the form field they are about.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from emporium.storefront.admin import (
    customers,
    dashboard,
    locations,
    orders,
    products,
    promotions,
    shipping,
    taxes,
    variants,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

# ``/admin`` answers like ``/admin/`` instead of redirecting to it: the gateway passes on the
# canonical path, without the trailing slash, so a redirect would only come back.
router.add_api_route("", dashboard.dashboard, methods=["GET"], response_class=HTMLResponse)
for _module in (
    dashboard, products, variants, locations, orders, customers, shipping, taxes, promotions
):  # fmt: skip
    router.include_router(_module.router)
