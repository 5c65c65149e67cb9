"""Cache invalidation that happens after the commit that made an entry stale.

A service marks cache families stale on the session (``mark_stale``); once the transaction
has committed, the generations are bumped (``invalidate``). Bumping before the commit would
let a concurrent reader re-cache the old rows under the new generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from emporium.kit.cache.base import Cache

__all__ = ["LISTING", "invalidate", "invalidate_after_commit", "mark_stale", "product_family"]

#: The family of every listing page (any product change may move it).
LISTING = "listing"
_KEY = "emporium.catalog.stale"
_tasks: set[asyncio.Task[None]] = set()


def product_family(product_id: UUID) -> str:
    """The cache family of one product's detail."""
    return f"product:{product_id}"


def mark_stale(session: AsyncSession, *names: str) -> None:
    """Remember that ``names`` must be bumped once ``session`` commits."""
    session.info.setdefault(_KEY, set()).update(names)


def _take(session: AsyncSession | Session) -> set[str]:
    names: set[str] = session.info.pop(_KEY, set())
    return names


async def _bump(cache: Cache, names: Iterable[str]) -> None:
    for name in sorted(names):
        await cache.bump(name)


async def invalidate(cache: Cache | None, session: AsyncSession) -> None:
    """Bump what ``session`` marked stale (call after it committed)."""
    names = _take(session)
    if cache is not None and names:
        await _bump(cache, names)


def invalidate_after_commit(cache: Cache | None, session: AsyncSession) -> None:
    """For sessions committed by someone else (the event consumer): bump in a task then."""
    if cache is None or session.info.get(_KEY + ".hooked"):
        return
    session.info[_KEY + ".hooked"] = True

    def after_commit(sync_session: Session) -> None:
        names = _take(sync_session)
        if names:
            task = asyncio.get_running_loop().create_task(_bump(cache, names))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

    event.listen(session.sync_session, "after_commit", after_commit)
