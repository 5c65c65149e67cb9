"""``Annotated`` dependency aliases shared by the catalog's endpoints.

Every dependency is ``async def``: FastAPI runs a plain ``def`` one in the thread pool, a
hop that cost more than the rest of a cached product GET (measured under wrk).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.invalidation import invalidate
from emporium.catalog.settings import Settings
from emporium.kit.app import get_resources, get_storage
from emporium.kit.auth.dependencies import AdminPrincipal
from emporium.kit.cache.base import Cache
from emporium.kit.db import Database
from emporium.kit.storage.base import ObjectStorage

__all__ = ["AdminDep", "CacheDep", "DatabaseDep", "SessionDep", "SettingsDep", "StorageDep"]


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction; after it commits, the cache entries it made stale go."""
    resources = get_resources(request)
    async with resources.require_database().session() as session:
        yield session
    await invalidate(resources.cache, session)


async def get_cache_or_none(request: Request) -> Cache | None:
    return get_resources(request).cache


async def get_database(request: Request) -> Database:
    """The database, for reads that open a session only when they need one (a cache miss)."""
    return get_resources(request).require_database()


async def get_settings(request: Request) -> Settings:
    settings = get_resources(request).settings
    assert isinstance(settings, Settings)
    return settings


SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
CacheDep = Annotated[Cache | None, Depends(get_cache_or_none)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StorageDep = Annotated[ObjectStorage, Depends(get_storage)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminDep = AdminPrincipal
