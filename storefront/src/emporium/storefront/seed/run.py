"""Fill a shop with the demo data of ``data.py`` through the public API, idempotently.

Categories are found by slug, products by SKU, the demo customer by email and its orders by
their Idempotency-Keys, shipping zones by name, tax rates by country, region and tax class,
promotions by code (an automatic one by name), the products with variants and the second
stock location as ``variants.py`` says: a second run finds everything and changes nothing.
A run cut short (Ctrl-C, a service restart) is finished by the next one: a product without
an image is completed (stock, then image, so an image means the product is complete).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from emporium.storefront.seed.api import TRANSIENT, Api, ApiError
from emporium.storefront.seed.credentials import Account, Credentials
from emporium.storefront.seed.data import (
    CATEGORIES,
    DEMO_ADDRESS,
    ORDERS,
    PRODUCTS,
    DemoOrder,
    DemoProduct,
)
from emporium.storefront.seed.images import product_picture
from emporium.storefront.seed.pricing import seed_pricing, ship_the_cart
from emporium.storefront.seed.variants import VARIANT_PRODUCTS, seed_variants

__all__ = ["SeedError", "SeedReport", "catalog_is_empty", "seed"]

Json = dict[str, Any]
_FINAL = frozenset({"confirmed", "rejected", "cancelled", "shipped"})
_PASSES = 4


class SeedError(RuntimeError):
    """The shop cannot take the demo data as it is (an account with another password...)."""


@dataclass
class SeedReport:
    """What one run created (all zero: the shop had everything already)."""

    categories: int = 0
    products: int = 0
    images: int = 0
    customers: int = 0
    addresses: int = 0
    orders: int = 0
    shipping_zones: int = 0
    tax_rates: int = 0
    promotions: int = 0
    locations: int = 0
    variant_products: int = 0
    variants: int = 0

    @property
    def changed(self) -> bool:
        return any(vars(self).values())

    def __str__(self) -> str:
        return ", ".join(f"{value} {name}" for name, value in vars(self).items())


def _api_base(gateway_url: str) -> str:
    return gateway_url.rstrip("/") + "/api/v1"


async def catalog_is_empty(gateway_url: str) -> bool:
    """Whether the shop lists no product at all (the first start of ``make dev``)."""
    async with httpx.AsyncClient(base_url=_api_base(gateway_url), timeout=30) as client:
        page = (await Api(client).call("GET", "/products", params={"limit": 1})).json()
        return not page["items"]


async def seed(
    gateway_url: str,
    credentials: Credentials,
    *,
    say: Callable[[str], None] = print,
    timeout: float = 120.0,
) -> SeedReport:
    """Create whatever of the demo data the shop behind ``gateway_url`` lacks.

    A pass cut short by a transient failure (a gateway timeout on a busy machine, a service
    restarting) is simply run again: every step finds what an earlier pass did.
    """
    report = SeedReport()
    for attempt in range(1, _PASSES + 1):
        try:
            await _pass(gateway_url, credentials, report, say=say, timeout=timeout)
            return report
        except (ApiError, httpx.TransportError) as error:
            transient = not isinstance(error, ApiError) or error.status in TRANSIENT
            if not transient or attempt == _PASSES:
                raise
            say(f"[seed] {error} - trying again ({attempt}/{_PASSES - 1})")
            await asyncio.sleep(2 * attempt)
    return report


async def _pass(
    gateway_url: str,
    credentials: Credentials,
    report: SeedReport,
    *,
    say: Callable[[str], None],
    timeout: float,
) -> None:
    async with httpx.AsyncClient(base_url=_api_base(gateway_url), timeout=60) as client:
        admin = Api(client)
        await admin.sign_in(credentials.admin.email, credentials.admin.password)
        category_ids = await _categories(admin, report)
        products = await _products(admin, category_ids, report)
        say(f"[seed] catalog: {len(products)} demo products ({report.products} new)")
        # Before the orders: the demo customer's country needs a shipping method chosen.
        pricing = await seed_pricing(admin, category_ids, say=say)
        report.shipping_zones += pricing.shipping_zones
        report.tax_rates += pricing.tax_rates
        report.promotions += pricing.promotions
        listed = {p["sku"]: p async for p in admin.pages("/products", {"sort": "newest"})}
        extra = await seed_variants(admin, category_ids, listed)
        report.locations += extra.locations
        report.variant_products += extra.variant_products
        report.variants += extra.variants
        say(f"[seed] variants: {len(VARIANT_PRODUCTS)} products with options, stock at vienna")
        shopper = Api(client)
        await _customer(shopper, credentials.demo, report)
        await _orders(shopper, admin, products, report, timeout=timeout)
        say(f"[seed] demo customer {credentials.demo.email}: {report.orders} new orders")


async def _categories(admin: Api, report: SeedReport) -> dict[str, str]:
    existing = {c["slug"]: c["id"] for c in (await admin.call("GET", "/categories")).json()}
    for category in CATEGORIES:
        if category.slug in existing:
            continue
        body = {
            "slug": category.slug,
            "name": category.name,
            "parent_id": existing[category.parent] if category.parent else None,
        }
        created = await admin.call("POST", "/admin/categories", json=body, ok=(201,))
        existing[category.slug] = created.json()["id"]
        report.categories += 1
    return existing


async def _products(
    admin: Api, category_ids: dict[str, str], report: SeedReport
) -> dict[str, Json]:
    by_sku = {p["sku"]: p async for p in admin.pages("/products", {"sort": "newest"})}
    # A few at a time: the catalog decodes at most two images at once anyway.
    gate = asyncio.Semaphore(3)

    async def one(demo: DemoProduct, number: int) -> None:
        async with gate:
            product = by_sku.get(demo.sku)
            if product is None:
                body = {
                    "sku": demo.sku,
                    "name": demo.name,
                    "description": demo.description,
                    "price": {"amount": demo.price, "currency": "EUR"},
                    "category_id": category_ids[demo.category],
                    "attributes": demo.attributes,
                    "weight_grams": demo.weight_grams,
                }
                product = (await admin.call("POST", "/admin/products", json=body, ok=(201,))).json()
                report.products += 1
            if not product["images"]:
                await admin.call(
                    "PUT", f"/admin/products/{product['id']}/stock", json={"on_hand": demo.on_hand}
                )
                picture = await asyncio.to_thread(
                    product_picture, demo.name, demo.category, number / len(PRODUCTS)
                )
                await admin.call(
                    "POST",
                    f"/admin/products/{product['id']}/images",
                    files={"file": (f"{demo.sku.lower()}.jpg", picture, "image/jpeg")},
                    ok=(201,),
                )
                report.images += 1
            by_sku[demo.sku] = product

    # Created a category at a time in turn, so the newest products (the shop's home page)
    # are of every category, not all of the last one.
    await asyncio.gather(*(one(demo, n) for n, demo in _round_robin(PRODUCTS)))
    return {demo.sku: by_sku[demo.sku] for demo in PRODUCTS}


def _round_robin(products: tuple[DemoProduct, ...]) -> list[tuple[int, DemoProduct]]:
    """(number, product) ordered by rank inside its category, then category order."""
    ranks: dict[str, int] = {}
    ranked = []
    for number, demo in enumerate(products):
        ranks[demo.category] = ranks.get(demo.category, -1) + 1
        ranked.append((ranks[demo.category], number, demo))
    return [(number, demo) for _, number, demo in sorted(ranked, key=lambda r: r[:2])]


async def _customer(shopper: Api, account: Account, report: SeedReport) -> None:
    registered = await shopper.call(
        "POST",
        "/auth/register",
        json={"email": account.email, "password": account.password, "name": "Dana Demo"},
        ok=(201, 409),
    )
    report.customers += registered.status_code == 201
    try:
        await shopper.sign_in(account.email, account.password)
    except ApiError as error:
        if error.status == 401:
            raise SeedError(
                f"the demo customer {account.email} exists with another password "
                "(or is disabled): set EMPORIUM_DEMO_EMAIL / EMPORIUM_DEMO_PASSWORD"
            ) from error
        raise
    saved = (await shopper.call("GET", "/me/addresses")).json()
    # Found by street and country: a demo customer of an older seed (in Berlin) moves too.
    if not any(
        (a.get("line1"), a.get("country")) == (DEMO_ADDRESS["line1"], DEMO_ADDRESS["country"])
        for a in saved
    ):
        await shopper.call("POST", "/me/addresses", json=DEMO_ADDRESS, ok=(201,))
        report.addresses += 1


async def _orders(
    shopper: Api, admin: Api, products: dict[str, Json], report: SeedReport, *, timeout: float
) -> None:
    placed = {order["id"] async for order in shopper.pages("/orders", {})}
    if len(placed) >= len(ORDERS):
        return  # the history is there (a customer's own orders count too)
    for demo in ORDERS:
        await _order(shopper, admin, products, demo, placed, report, timeout=timeout)
    await shopper.call("DELETE", "/cart", ok=(200, 204))


async def _order(
    shopper: Api,
    admin: Api,
    products: dict[str, Json],
    demo: DemoOrder,
    placed: set[str],
    report: SeedReport,
    *,
    timeout: float,
) -> None:
    await shopper.call("DELETE", "/cart", ok=(200, 204))
    for sku, quantity in demo.lines:
        await _add_to_cart(shopper, products[sku]["id"], quantity, timeout=timeout)
    await ship_the_cart(shopper, DEMO_ADDRESS)
    answer = await shopper.call(
        "POST",
        "/orders",
        json={"shipping_address": DEMO_ADDRESS, "payment": {"card_token": demo.card_token}},
        headers={"Idempotency-Key": demo.key},
        ok=(202,),
    )
    order: Json = answer.json()
    report.orders += order["id"] not in placed  # not the same key's order of an earlier run
    order = await _settled(shopper, order["id"], timeout=timeout)
    if demo.ship and order["status"] == "confirmed":
        order = (await admin.call("POST", f"/admin/orders/{order['id']}/ship")).json()
    if demo.cancel and order["status"] == "confirmed":
        order = (await shopper.call("POST", f"/orders/{order['id']}/cancel")).json()


async def _add_to_cart(shopper: Api, product_id: str, quantity: int, *, timeout: float) -> None:
    """Put a product in the cart once the orders service has heard of it (an event away)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await shopper.call("PUT", f"/cart/items/{product_id}", json={"quantity": quantity})
            return
        except ApiError as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def _settled(shopper: Api, order_id: str, *, timeout: float) -> Json:
    """The order once the checkout saga has decided it (no longer ``pending``)."""
    deadline = time.monotonic() + timeout
    while True:
        order: Json = (await shopper.call("GET", f"/orders/{order_id}")).json()
        if order["status"] in _FINAL:
            return order
        if time.monotonic() > deadline:
            raise TimeoutError(f"order {order_id} still {order['status']} after {timeout:.0f} s")
        await asyncio.sleep(0.2)
