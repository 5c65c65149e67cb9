"""Test support: a running catalog app (``running_catalog``) with factories, for any test suite."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from emporium.catalog.app import create_service_app
from emporium.catalog.settings import Settings
from emporium.kit.app import Resources
from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.outbox import OutboxMessage
from emporium.kit.testing.tokens import TokenMint

__all__ = ["MIGRATIONS", "Catalog", "running_catalog"]

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
_skus = itertools.count(1)


@dataclass
class Catalog:
    """A running catalog app and an HTTP client on it."""

    app: FastAPI
    client: AsyncClient
    admin: dict[str, str]
    mint: TokenMint

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources

    @property
    def database(self) -> Database:
        return self.resources.require_database()

    async def category(self, slug: str, parent_id: str | None = None) -> dict[str, Any]:
        body = {"slug": slug, "name": slug.title(), "parent_id": parent_id}
        response = await self.client.post("/admin/categories", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def product(self, **fields: Any) -> dict[str, Any]:
        body = {
            "sku": f"SKU-{next(_skus)}",
            "name": "Thing",
            "description": "",
            "price": {"amount": 1000, "currency": "EUR"},
            **fields,
        }
        response = await self.client.post("/admin/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def stock(self, product_id: str, on_hand: int) -> dict[str, Any]:
        response = await self.client.put(
            f"/admin/products/{product_id}/stock", json={"on_hand": on_hand}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def outbox_types(self, key: UUID | str | None = None) -> list[str]:
        async with self.database.session() as session:
            stmt = select(OutboxMessage.type).order_by(OutboxMessage.created_at, OutboxMessage.id)
            if key is not None:
                stmt = stmt.where(OutboxMessage.key == str(key))
            return list(await session.scalars(stmt))


@contextlib.asynccontextmanager
async def running_catalog(
    database_url: str, media_dir: Path, *, settings: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[Catalog]:
    """Migrate ``database_url`` and run a catalog app on it (memory bus and cache by default)."""
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    values: dict[str, Any] = {
        "database_url": database_url,
        "bus": "memory",
        "storage": "local",
        "media_dir": str(media_dir),
        "redis_url": None,
        "log_json": False,
        "outbox_poll_seconds": 0.2,
        "handler_backoff_seconds": 0.05,
        **(settings or {}),
    }
    mint = TokenMint()
    app = create_service_app(Settings(**values), keys=mint.keys(), **overrides)
    async with (
        # Generous: on a machine busy with other suites, stopping the relay, consumer and
        # pools can outlast asgi-lifespan's default 5 s; a shutdown that hangs still fails.
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://catalog") as client,
    ):
        admin = {"Authorization": f"Bearer {mint.token(role='admin')}"}
        yield Catalog(app=app, client=client, admin=admin, mint=mint)
