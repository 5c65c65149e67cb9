"""Fixtures for the customers service's tests: the app on a real database and Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emporium.customers.testing import Service, ServiceFactory, make_settings, running


@pytest.fixture
def service_factory(unique: str, redis_url: str) -> ServiceFactory:
    """``async with service_factory(database_url, **settings) as svc``: Redis always real."""

    def factory(
        database_url: str, **overrides: Any
    ) -> contextlib.AbstractAsyncContextManager[Service]:
        overrides.setdefault("redis_url", redis_url)
        return running(make_settings(database_url, unique, **overrides))

    return factory


@pytest.fixture
async def service(postgres_url: str, service_factory: ServiceFactory) -> AsyncIterator[Service]:
    """The app on a fresh PostgreSQL database, real Redis, the in-memory bus."""
    async with service_factory(postgres_url) as svc:
        yield svc


@pytest.fixture
async def any_db_service(
    database_url: str, service_factory: ServiceFactory
) -> AsyncIterator[Service]:
    """The app on SQLite and on PostgreSQL (parametrised), real Redis."""
    async with service_factory(database_url) as svc:
        yield svc
