"""The route table: every public path under ``/api/v1``, its service and who may call it.

One entry per path prefix; the most specific prefix wins (``/admin/products`` before
``/products``). The upstream path is the public path without ``/api/v1``: the services
serve the API paths themselves, the gateway only strips its version prefix.

Auth levels:

- ``anonymous``: anybody; a valid bearer token still identifies the caller (rate limits per
  customer), an invalid one is left for the service to judge;
- ``customer``: a valid access token (401 without one or with a bad one);
- ``admin``: a valid access token with the ``admin`` role (403 for anyone else).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["API_PREFIX", "ROUTES", "Auth", "Route", "is_event_stream", "match"]

API_PREFIX = "/api/v1"

Auth = Literal["anonymous", "customer", "admin"]


@dataclass(frozen=True, slots=True)
class Route:
    """Public ``prefix`` (without ``/api/v1``) served by ``upstream``.

    ``methods`` limits the entry to some methods (None: any; the service answers 405 for
    those it does not serve). ``cache``: anonymous GETs may be answered from the response
    cache. ``invalidates``: a successful write here makes that cache family stale.
    ``large``: answers may be large (pictures), so a GET is not first tried as a small one.
    """

    prefix: str
    upstream: str
    auth: Auth
    methods: frozenset[str] | None = None
    cache: bool = False
    invalidates: str | None = None
    large: bool = False

    def matches(self, path: str, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return path == self.prefix or path.startswith(self.prefix + "/")


_GET = frozenset({"GET", "HEAD"})

ROUTES: tuple[Route, ...] = (
    # customers: accounts and tokens
    Route("/auth/logout", "customers", "customer"),
    Route("/auth", "customers", "anonymous"),
    Route("/me", "customers", "customer"),
    Route("/admin/customers", "customers", "admin"),
    # catalog
    Route("/categories", "catalog", "anonymous", methods=_GET, cache=True),
    Route("/products", "catalog", "anonymous", methods=_GET, cache=True),
    Route("/media", "catalog", "anonymous", methods=_GET, large=True),
    Route("/admin/categories", "catalog", "admin", invalidates="catalog"),
    Route("/admin/products", "catalog", "admin", invalidates="catalog"),
    # catalog: variants and their stock, stock locations (stock shows in product pages)
    Route("/admin/variants", "catalog", "admin", invalidates="catalog"),
    Route("/admin/locations", "catalog", "admin", invalidates="catalog"),
    # orders
    Route("/cart", "orders", "customer"),
    Route("/orders", "orders", "customer"),
    Route("/admin/orders", "orders", "admin"),
    # orders: the checkout pricing rules
    Route("/admin/shipping-zones", "orders", "admin"),
    Route("/admin/tax-rates", "orders", "admin"),
    Route("/admin/promotions", "orders", "admin"),
)

# Longest prefix first, so the most specific entry is found first.
_BY_SPECIFICITY = tuple(sorted(ROUTES, key=lambda route: len(route.prefix), reverse=True))


def match(path: str, method: str, routes: tuple[Route, ...] = _BY_SPECIFICITY) -> Route | None:
    """The entry serving the public ``path`` (``/api/v1`` already removed), or None."""
    for route in routes:
        if route.matches(path, method):
            return route
    return None


def is_event_stream(segments: tuple[str, ...], method: str) -> bool:
    """Whether the public path (``/api/v1`` removed) is an order's event stream
    (``GET /orders/{id}/events``): its own pool, a cap per customer, a bounded life."""
    return method == "GET" and len(segments) == 3 and segments[::2] == ("orders", "events")
