"""The shop the bench runs on: products, categories and customers, made through the API.

Made once and remembered in ``var/cache/bench/shop.json`` (product ids, customers and
their tokens); a later run reuses them while the catalog still knows the first product,
else starts a new set under a fresh SKU prefix. Bulk writes go to the catalog's admin API
directly (with the bootstrap admin's token: the gateway would count 2,000 admin writes
against one customer's rate limit); customers register and sign in through the gateway,
each from its own loopback address (the gateway limits ``/auth/*`` per address).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load.addresses import Pool
from bench.load.client import Api, ApiError, session_from
from bench.load.generators import ROOT

__all__ = ["Customer", "Shop", "prepare"]

# Which products, categories and customers the bench made on this platform; a second
# platform (own ports and databases) needs a file of its own: BENCH_STATE.
STATE = Path(os.environ.get("BENCH_STATE") or ROOT / "var/cache/bench/shop.json")
ADMIN_EMAIL = os.environ.get("EMPORIUM_ADMIN_EMAIL", "admin@emporium.local")
ADMIN_PASSWORD = os.environ.get("EMPORIUM_ADMIN_PASSWORD", "emporium-admin")
PASSWORD = "bench-shopper-password-1"
CATEGORIES = {
    "kitchen": ["Kettle", "Teapot", "Knife", "Board", "Cup", "Bowl", "Pan"],
    "lighting": ["Lamp", "Pendant", "Candle", "Lantern"],
    "garden": ["Can", "Hose", "Shears", "Planter", "Feeder"],
    "shirts": ["Linen", "Oxford", "Tee", "Flannel"],
    "shoes": ["Runner", "Boot", "Sandal", "Sneaker"],
    "books": ["Cookbook", "Guide", "Novel", "Atlas"],
}
ADJECTIVES = ["Classic", "Nordic", "Copper", "Everyday", "Studio", "Rustic", "Modern", "Tiny"]
CHECKOUT_STOCK = 10_000_000


@dataclass
class Customer:
    email: str
    token: str = ""
    expires_at: float = 0.0
    refresh_token: str = ""


@dataclass
class Shop:
    prefix: str
    products: list[str] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)  # bench slug -> id
    customers: list[Customer] = field(default_factory=list)
    admin_token: str = ""

    @property
    def checkout_products(self) -> list[str]:
        return self.products[:20]

    @property
    def words(self) -> list[str]:
        return sorted(
            {w.lower() for nouns in CATEGORIES.values() for w in nouns}
            | {a.lower() for a in ADJECTIVES}
        )

    def tokens(self) -> tuple[str, ...]:
        return tuple(c.token for c in self.customers if c.token)

    def save(self) -> None:
        STATE.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data.pop("admin_token")
        STATE.write_text(json.dumps(data))


def _load() -> Shop | None:
    try:
        data: dict[str, Any] = json.loads(STATE.read_text())
        customers = [Customer(**c) for c in data.pop("customers")]
        return Shop(**data, customers=customers)
    except (OSError, ValueError, TypeError, KeyError):
        return None


async def _admin_token(gateway: str, pool: Pool) -> str:
    async with session_from(pool.block(1).addresses()[0]) as session:
        _, data = await Api(session, gateway).call(
            "POST", "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
    return str(data["access_token"])


async def _categories(admin: Api, shop: Shop) -> None:
    for slug in CATEGORIES:
        full = f"{shop.prefix}-{slug}"
        if full in shop.categories:
            continue
        status, data = await admin.call(
            "POST",
            "/admin/categories",
            json={"slug": full, "name": slug.title()},
            expect=(201, 409),
        )
        if status == 201:
            shop.categories[full] = data["id"]
    if len(shop.categories) < len(CATEGORIES):
        _, listed = await admin.call("GET", "/categories")
        items = listed if isinstance(listed, list) else listed.get("items", [])
        for item in items:
            if item["slug"].startswith(shop.prefix + "-"):
                shop.categories[item["slug"]] = item["id"]


async def _products(admin: Api, shop: Shop, count: int) -> None:
    rng = random.Random(7)
    slugs = list(CATEGORIES)
    start = len(shop.products)
    made: list[tuple[int, str]] = []
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        slug = slugs[i % len(slugs)]
        noun = CATEGORIES[slug][(i // len(slugs)) % len(CATEGORIES[slug])]
        body = {
            "sku": f"{shop.prefix}-{i:05d}",
            "name": f"{rng.choice(ADJECTIVES)} {noun} {i}",
            "description": f"A {noun.lower()} for the benchmark. " * 6,
            "price": 500 + (i * 37) % 20_000,
            "category_id": shop.categories[f"{shop.prefix}-{slug}"],
            "attributes": {"colour": ["red", "blue", "green", "black"][i % 4]},
        }
        async with gate:
            _, product = await admin.call("POST", "/admin/products", json=body, expect=(201,))
            stock = CHECKOUT_STOCK if i < 20 else 1_000
            await admin.call(
                "PUT", f"/admin/products/{product['id']}/stock", json={"on_hand": stock}
            )
        made.append((i, product["id"]))

    await asyncio.gather(*(one(i) for i in range(start, count)))
    shop.products += [pid for _, pid in sorted(made)]


async def _customers(gateway: str, shop: Shop, count: int, pool: Pool, *, valid_for: float) -> None:
    while len(shop.customers) < count:
        shop.customers.append(
            Customer(email=f"{shop.prefix}-{len(shop.customers):04d}@example.com")
        )
    stale = [c for c in shop.customers[:count] if c.expires_at - time.time() < valid_for]
    gate = asyncio.Semaphore(4)  # password hashing is the customers service's heaviest work

    async def sign_in(customer: Customer, address: str) -> None:
        login = {"email": customer.email, "password": PASSWORD}
        async with gate, session_from(address, limit=2) as session:
            api = Api(session, gateway)
            if customer.refresh_token:  # no password hashing: far cheaper for the service
                status, data = await api.call(
                    "POST",
                    "/api/v1/auth/refresh",
                    json={"refresh_token": customer.refresh_token},
                    expect=(200, 400, 401, 422, 502, 503, 504),
                )
                if status == 200:
                    customer.token = data["access_token"]
                    customer.refresh_token = data.get("refresh_token", "")
                    customer.expires_at = time.time() + float(data.get("expires_in", 900))
                    return
            for attempt in range(6):
                try:
                    status, data = await api.call(
                        "POST", "/api/v1/auth/token", json=login, expect=(200, 401)
                    )
                    if status == 401:
                        await api.call(
                            "POST",
                            "/api/v1/auth/register",
                            json=login | {"name": "Bench Shopper"},
                            expect=(201, 409),
                        )
                        continue
                    customer.token = data["access_token"]
                    customer.refresh_token = data.get("refresh_token", "")
                    customer.expires_at = time.time() + float(data.get("expires_in", 900))
                    return
                except ApiError:  # a 5xx of a busy customers service: once more, later
                    await asyncio.sleep(1 + attempt)
            raise ApiError(f"{customer.email}: cannot sign in")

    if not stale:
        return
    addresses = pool.block(len(stale)).addresses()
    await asyncio.gather(*(sign_in(c, a) for c, a in zip(stale, addresses, strict=True)))


async def prepare(
    gateway: str, catalog: str, *, products: int, customers: int, pool: Pool, valid_for: float = 600
) -> Shop:
    """The shop, made or refreshed: ``products`` products, ``customers`` signed-in customers
    whose tokens stay valid ``valid_for`` seconds more."""
    admin_token = await _admin_token(gateway, pool)
    shop = _load()
    async with session_from(pool.block(1).addresses()[0], limit=16) as session:
        admin = Api(session, catalog, admin_token)
        if shop is not None and shop.products:
            status, _ = await admin.call("GET", f"/products/{shop.products[0]}", expect=(200, 404))
            if status == 404:
                shop = None
        if shop is None:
            shop = Shop(prefix=f"bench{uuid.uuid4().hex[:6]}")
        shop.admin_token = admin_token
        await _categories(admin, shop)
        await _products(admin, shop, products)
    shop.save()
    await _customers(gateway, shop, customers, pool, valid_for=valid_for)
    shop.save()
    return shop
