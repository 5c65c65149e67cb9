"""Test helpers: run the customers app on a database and talk to it (used by its tests)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from emporium.customers.app import create_service_app
from emporium.customers.runtime import Accounts
from emporium.customers.settings import Settings
from emporium.kit.app import Resources
from emporium.kit.migrations import upgrade_to_head

__all__ = [
    "CHEAP_ARGON2",
    "PASSWORD",
    "Service",
    "ServiceFactory",
    "bearer",
    "make_settings",
    "running",
]

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
PASSWORD = "correct horse battery staple"

#: Cheap Argon2 for tests (the defaults are RFC 9106's low-memory profile).
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}


class Service:
    """A running customers app and a client for it."""

    def __init__(self, app: FastAPI, client: AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def resources(self) -> Resources:
        resources = self.app.state.resources
        assert isinstance(resources, Resources)
        return resources

    @property
    def accounts(self) -> Accounts:
        return self.resources.get(Accounts)

    async def register(
        self, email: str, password: str = PASSWORD, name: str = "Ada Lovelace"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password, "name": name}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def sign_in(
        self, email: str, password: str = PASSWORD, *, client: AsyncClient | None = None
    ) -> Response:
        return await (client or self.client).post(
            "/auth/token", json={"email": email, "password": password}
        )

    @contextlib.asynccontextmanager
    async def from_address(self, address: str) -> AsyncIterator[AsyncClient]:
        """A client whose requests come from ``address`` (as uvicorn would resolve it)."""
        transport = ASGITransport(app=self.app, client=(address, 40000))
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    async def tokens(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.sign_in(email, password)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def customer(self, email: str, name: str = "Ada Lovelace") -> tuple[str, dict[str, str]]:
        """Register and sign in: (customer id, Authorization headers)."""
        registered = await self.register(email, name=name)
        tokens = await self.tokens(email)
        return registered["id"], bearer(tokens["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


#: Outside dev the settings refuse a default or short secret key: one per test run.
_TEST_SECRET_KEY = secrets.token_hex(32)


def make_settings(database_url: str, unique: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "bus": "memory",
        "log_json": False,
        "run_workers": False,
        "login_throttle_namespace": unique,
        "login_delay_seconds": 0.0,
        "environment": "test",
        "secret_key": _TEST_SECRET_KEY,
        **CHEAP_ARGON2,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(settings: Settings, **app_overrides: Any) -> AsyncIterator[Service]:
    """Migrate ``settings.database_url`` and run the app until the block ends."""
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, settings.database_url)
    app = create_service_app(settings, **app_overrides)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),  # a busy machine
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield Service(app, client)


#: ``factory(database_url, **settings)`` -> ``async with`` a running ``Service``.
ServiceFactory = Callable[..., contextlib.AbstractAsyncContextManager[Service]]
