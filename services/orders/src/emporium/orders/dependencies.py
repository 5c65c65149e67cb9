"""``Annotated`` dependency aliases of the orders endpoints.

Every dependency is ``async``: FastAPI runs a plain ``def`` one in its thread pool, a hand-off
to a thread and back on every request for what is a dictionary lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.app import get_resources, get_session
from emporium.kit.auth.dependencies import AdminPrincipal, CurrentPrincipal
from emporium.kit.db import Database
from emporium.orders.common import EventPublisher
from emporium.orders.settings import Settings

__all__ = [
    "AdminDep",
    "CustomerDep",
    "DatabaseDep",
    "PublisherDep",
    "SessionDep",
    "SettingsDep",
]


async def _publisher(request: Request) -> EventPublisher:
    return get_resources(request).get(EventPublisher)


async def _settings(request: Request) -> Settings:
    settings = get_resources(request).settings
    assert isinstance(settings, Settings)
    return settings


async def _database(request: Request) -> Database:
    return get_resources(request).require_database()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
PublisherDep = Annotated[EventPublisher, Depends(_publisher)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
CustomerDep = CurrentPrincipal
AdminDep = AdminPrincipal
