"""The whole platform as processes on the private PostgreSQL and Kafka, driven through the gateway.

``start_private_platform(pg, kafka)`` runs ``tests/e2e/platform.py``'s ``start_platform``
with ``EMPORIUM_POSTGRES_URL`` and ``EMPORIUM_KAFKA_BOOTSTRAP`` pointing at the private
instances while the processes are made (they inherit them), and a Redis database of the
suite's own (13). Redis and S3 are the shared ones.

``Store`` is the storefront side: the admin's calls, shoppers who register, fill a cart and
check out (retrying with the same ``Idempotency-Key`` until the answer is a 202, as a real
storefront would), and SQL against the services' databases for the invariants.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from emporium_chaos_infra import PrivateKafka, PrivatePostgres

__all__ = ["Shopper", "Store", "private_env", "start_private_platform"]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 13
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
SERVICES = ("customers", "catalog", "orders", "gateway")


def _e2e_platform() -> Any:
    name = "emporium_e2e_platform"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "e2e" / "platform.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextlib.contextmanager
def private_env(pg: PrivatePostgres, kafka: PrivateKafka) -> Iterator[None]:
    """``os.environ`` naming the private PostgreSQL and Kafka, restored afterwards."""
    names = ("EMPORIUM_POSTGRES_URL", "EMPORIUM_KAFKA_BOOTSTRAP", "EMPORIUM_E2E_BASE_URL")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["EMPORIUM_POSTGRES_URL"] = pg.url()
    os.environ["EMPORIUM_KAFKA_BOOTSTRAP"] = kafka.bootstrap
    # Always a platform of our own, even in a run aimed at an already running one.
    os.environ.pop("EMPORIUM_E2E_BASE_URL", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_private_platform(pg: PrivatePostgres, kafka: PrivateKafka) -> tuple[Any, Any]:
    """(Platform, handle to close) of gateway + customers + catalog + orders on ``pg``/``kafka``."""
    module = _e2e_platform()
    base, _, _ = os.environ["EMPORIUM_REDIS_URL"].rpartition("/")
    redis = f"{base}/{REDIS_DB}"
    extra = {f"{name.upper()}_REDIS_URL": redis for name in SERVICES}
    with private_env(pg, kafka):
        platform, started = module.start_platform(extra_env=extra)
    assert started is not None
    return platform, started


@dataclass
class Shopper:
    http: httpx.AsyncClient
    email: str
    access: str = ""
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    order_id: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    async def add(self, product_id: str) -> None:
        """Put one in the cart, once orders has heard of the product (an event away)."""
        deadline = time.monotonic() + 90
        while True:
            response = await self.http.put(
                f"/cart/items/{product_id}", json={"quantity": 1}, headers=self.headers
            )
            if response.status_code == 200:
                return
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.3)

    async def checkout(self, deadline: float) -> str:
        """POST /orders with this shopper's key until a 202 (the platform may be hurting)."""
        last: object = None
        while time.monotonic() < deadline:
            try:
                response = await self.http.post(
                    "/orders",
                    json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
                    headers={**self.headers, "Idempotency-Key": self.key},
                )
                if response.status_code == 202:
                    self.order_id = str(response.json()["id"])
                    return self.order_id
                last = (response.status_code, response.text[:300])
            except httpx.HTTPError as error:
                last = error
            await asyncio.sleep(0.5)
        raise AssertionError(f"checkout never accepted: {last!r}")


@dataclass
class Store:
    platform: Any
    started: Any
    pg: PrivatePostgres
    http: httpx.AsyncClient
    admin_token: str = ""

    @property
    def orders_db(self) -> str:
        return str(self.started.databases["orders"])

    @property
    def catalog_db(self) -> str:
        return str(self.started.databases["catalog"])

    async def sign_in_admin(self) -> None:
        response = await self.http.post(
            "/auth/token",
            json={"email": self.platform.admin_email, "password": self.platform.admin_password},
        )
        assert response.status_code == 200, response.text
        self.admin_token = response.json()["access_token"]

    async def product(self, on_hand: int, price: int = 1000) -> str:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        sku = f"CHAOS-{uuid.uuid4().hex[:12]}"
        created = await self.http.post(
            "/admin/products",
            json={"sku": sku, "name": sku, "price": {"amount": price, "currency": "EUR"}},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        product_id = str(created.json()["id"])
        stock = await self.http.put(
            f"/admin/products/{product_id}/stock", json={"on_hand": on_hand}, headers=headers
        )
        assert stock.status_code == 200, stock.text
        return product_id

    async def shopper(self) -> Shopper:
        email = f"chaos-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
        password = "correct horse 1"
        for _ in range(60):
            response = await self.http.post(
                "/auth/register", json={"email": email, "password": password, "name": "Chaos"}
            )
            if response.status_code != 429:
                break
            await asyncio.sleep(1)
        assert response.status_code == 201, response.text
        for _ in range(60):
            token = await self.http.post("/auth/token", json={"email": email, "password": password})
            if token.status_code != 429:
                break
            await asyncio.sleep(1)
        assert token.status_code == 200, token.text
        return Shopper(self.http, email, token.json()["access_token"])

    async def orders(self, ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """{order id: (status, status_reason)} from the orders database."""
        rows: list[Any] = await self.pg.fetch(
            "SELECT id::text, status, status_reason FROM customer_order"
            " WHERE id::text = ANY($1::text[])",
            ids,
            database=self.orders_db,
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def charges(self) -> dict[str, int]:
        """{idempotency key: amount charged minus refunded} of approved charges."""
        rows: list[Any] = await self.pg.fetch(
            "SELECT idempotency_key, amount - refunded_amount FROM simulated_charge"
            " WHERE status = 'approved'",
            database=self.orders_db,
        )
        return {row[0]: int(row[1]) for row in rows}

    async def reserved(self, product_id: str) -> int:
        value = await self.pg.fetchval(
            "SELECT coalesce(sum(reserved), 0) FROM stock_level WHERE variant_id = $1",
            uuid.UUID(product_id),
            database=self.catalog_db,
        )
        return int(value or 0)  # type: ignore[call-overload]
