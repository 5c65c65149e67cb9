"""Fixtures of the orders tests: the app on a backend, tokens, and catalog's side of the bus.

``orders`` runs the real app (migrated database, event workers, saga) on either backend:
``embedded`` (SQLite + the in-process bus) or ``real`` (PostgreSQL + Kafka, skipped without
the infrastructure). Tests play catalog and customers by publishing their contract events
onto the bus, which is the edge of the orders service.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import select

from emporium.contracts.base import EventData
from emporium.contracts.catalog import ProductCreated
from emporium.kit.bus.base import Bus, Record, Subscription
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.db import Database
from emporium.kit.events import Envelope, wrap
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.testing.polling import eventually
from emporium.kit.testing.tokens import TokenMint
from emporium.orders.app import create_service_app
from emporium.orders.models import ProductCopy
from emporium.orders.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


@dataclass
class Orders:
    """The running orders app and what a test needs around it."""

    client: AsyncClient
    bus: Bus
    settings: Settings
    mint: TokenMint
    database: Database
    tap: Subscription
    seen: list[Envelope] = field(default_factory=list)

    def auth(self, customer: UUID, role: str = "customer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.token(customer, role=role)}"}

    def admin(self) -> dict[str, str]:
        return self.auth(uuid.uuid4(), role="admin")

    async def publish(self, data: EventData, key: UUID, *, source: str = "catalog") -> Envelope:
        envelope = wrap(data, source=source, key=key)
        await self.bus.publish(
            [
                Record(
                    topic=self.settings.topic_prefix + data.topic,
                    value=envelope.to_bytes(),
                    key=str(key).encode(),
                    headers=tuple(envelope.headers()),
                )
            ]
        )
        return envelope

    async def product(self, *, price: int = 1000, currency: str = "EUR", sku: str = "") -> UUID:
        """A product catalog announced, once the read model has it."""
        product_id = uuid.uuid4()
        await self.publish(
            ProductCreated(
                product_id=product_id,
                sku=sku or f"SKU-{product_id.hex[:6]}",
                name=f"Product {product_id.hex[:4]}",
                price_amount=price,
                currency=currency,
            ),
            product_id,
        )
        await self.until_product(product_id, lambda p: p is not None)
        return product_id

    async def until_product(self, product_id: UUID, check: Any) -> ProductCopy | None:
        async def probe() -> bool:
            async with self.database.session() as session:
                found = await session.scalar(
                    select(ProductCopy)
                    .where(ProductCopy.id == product_id)
                    .execution_options(populate_existing=True)
                )
            return bool(check(found))

        await eventually(probe, timeout=30)
        async with self.database.session() as session:
            return await session.get(ProductCopy, product_id)

    async def add(self, customer: UUID, product_id: UUID, quantity: int = 1) -> Response:
        return await self.client.put(
            f"/cart/items/{product_id}", json={"quantity": quantity}, headers=self.auth(customer)
        )

    async def checkout(
        self, customer: UUID, *, key: str | None = None, token: str = "tok_visa"
    ) -> Response:
        return await self.client.post(
            "/orders",
            json={"shipping_address": ADDRESS, "payment": {"card_token": token}},
            headers={**self.auth(customer), "Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def place(
        self, customer: UUID, *, token: str = "tok_visa", quantity: int = 2
    ) -> dict[str, Any]:
        product_id = await self.product(price=1250)
        assert (await self.add(customer, product_id, quantity)).status_code == 200
        response = await self.checkout(customer, token=token)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    async def order(self, customer: UUID, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/orders/{order_id}", headers=self.auth(customer))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def until_status(
        self, customer: UUID, order_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            order = await self.order(customer, order_id)
            assert order["status"] == status, order
            return order

        return await eventually(probe, timeout=timeout)

    async def events(self, order_id: str | UUID, *, count: int, timeout: float = 30) -> list[str]:
        """The types of the order's events on orders.events, once there are ``count``."""

        async def probe() -> list[str]:
            for delivery in await self.tap.poll(timeout=0.2):
                self.seen.append(Envelope.from_bytes(delivery.value))
            types = [e.type.split(".")[1] for e in self.seen if e.key == str(order_id)]
            assert len(types) >= count, types
            return types

        return await eventually(probe, timeout=timeout)


def _settings(url: str, prefix: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "bus": "memory",
        "topic_prefix": prefix,
        "log_json": False,
        "redis_url": None,
        "outbox_poll_seconds": 0.05,
        "payment_poll_seconds": 0.05,
        "payment_backoff_seconds": 0.05,
        "payment_backoff_cap_seconds": 0.2,
        "sweeper_interval_seconds": 0.1,
        "sse_poll_seconds": 0.05,
        "handler_backoff_seconds": 0.05,
    }
    values.update(extra)
    return Settings(**values)


@dataclass(frozen=True)
class Backend:
    kind: str
    database_url: str
    kafka_bootstrap: str | None = None


@pytest.fixture(params=["embedded", "real"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test runs on SQLite + the in-process bus and on PostgreSQL + Kafka."""
    if request.param == "real":
        url: str = request.getfixturevalue("postgres_url")
        return Backend("real", url, request.getfixturevalue("kafka_bootstrap"))
    return Backend("embedded", request.getfixturevalue("sqlite_url"))


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Extra settings a test wants (override in the test module)."""
    return {}


@pytest.fixture
def wrap_bus() -> Callable[[Bus], Bus]:
    """What the app's bus is wrapped in (override in a test module: a bus that fails)."""
    return lambda bus: bus


@pytest.fixture
async def orders(
    backend: Backend, unique: str, app_settings: dict[str, Any], wrap_bus: Callable[[Bus], Bus]
) -> AsyncIterator[Orders]:
    prefix = f"{unique}."
    url = backend.database_url
    bus: Bus
    if backend.kafka_bootstrap is not None:
        from emporium.kit.bus.kafka import KafkaBus

        settings = _settings(
            url,
            prefix,
            bus="kafka",
            kafka_bootstrap_servers=backend.kafka_bootstrap,
            **app_settings,
        )
        bus = KafkaBus(backend.kafka_bootstrap)
    else:
        settings = _settings(url, prefix, **app_settings)
        bus = InMemoryBus()
    bus = wrap_bus(bus)
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    await bus.start()
    await bus.ensure_topics(
        [settings.catalog_topic, settings.customers_topic, settings.orders_topic]
    )
    mint = TokenMint()
    app = create_service_app(settings, keys=mint.keys(), bus=bus)
    tap = bus.subscribe([settings.orders_topic], f"{unique}-tap")
    await tap.start()
    try:
        async with (
            LifespanManager(app, startup_timeout=30, shutdown_timeout=30),  # a busy machine
            AsyncClient(transport=ASGITransport(app=app), base_url="http://orders") as client,
        ):
            database = app.state.resources.require_database()
            yield Orders(client, bus, settings, mint, database, tap)
    finally:
        await tap.stop()
        await bus.stop()
