"""Cache invalidation that happens after the commit that made an entry stale.

A service marks cache families stale on the session (``mark_stale``); once the transaction
has committed, the generations are bumped (``invalidate``). Bumping before the commit would
let a concurrent reader re-cache the old rows under the new generation.

Once bumped, the families are announced on the Redis channel ``catalog:stale:<db>`` (a JSON
list of their names): the gateway's response cache drops its answers of exactly those
families, so stock reserved by the checkout saga shows through the gateway at once. The
announcement comes after the bump, so the gateway's refetch finds the catalog's cache fresh.
Best effort, like every cache operation: the gateway's answers expire anyway.

A stock change that leaves its product in stock (or out of stock) changes only the
answers that show the product: its page and the listings that hold it. It marks only
``product:<id>`` stale (``stock_families``): the catalog's listing answers are checked
against the generations of the products in them (``answers.cached_listing``), and the
gateway indexes each listing answer under the products in it. A change that puts the
product in or out of stock may move it into or out of any ``in_stock`` listing (and its
facet counts), so it marks every listing stale, as price, name, category, creation and
deletion changes do: those can move a product to any page of any sort.

Whenever a product's generation is bumped, ``ITEMS`` is bumped first: a listing computed
while a change of one of its products committed learns it from ``ITEMS`` (its products'
generations, read only after the page, could already be the new ones) and is not stored.

On the embedded default (an in-process ``MemoryCache``, no Redis: ``make dev`` runs the
gateway in the same process) the same announcement goes to the process's pub/sub
(``LOCAL_STALE_CHANNEL`` on ``LOCAL_PUBSUB``), which the gateway's memory answers listen
to. Without it a stock write through ``/admin/variants/...`` (whose path names no product)
or by the saga left the product's cached answer up to the gateway's TTL old.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from uuid import UUID

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from emporium.kit.cache.base import Cache
from emporium.kit.cache.local_pubsub import LOCAL_PUBSUB, LOCAL_STALE_CHANNEL
from emporium.kit.cache.memory import MemoryCache
from emporium.kit.cache.redis_cache import RedisCache

__all__ = [
    "ITEMS",
    "LISTING",
    "LOCAL_STALE_CHANNEL",
    "invalidate",
    "invalidate_after_commit",
    "mark_stale",
    "product_family",
    "stale_channel",
    "stock_families",
]

log = logging.getLogger("emporium.catalog.invalidation")

#: The family of every listing page (any product change may move it).
LISTING = "listing"
#: Bumped before any product's family (never announced): see the module's docstring.
ITEMS = "items"
_PRODUCT = "product:"
_KEY = "emporium.catalog.stale"
_tasks: set[asyncio.Task[None]] = set()


def product_family(product_id: UUID) -> str:
    """The cache family of one product's detail."""
    return f"product:{product_id}"


def stock_families(product_id: UUID, before: int, after: int) -> tuple[str, ...]:
    """What a change of a product's units available from ``before`` to ``after`` makes
    stale: its own answers, and every listing only if it went in or out of stock."""
    if (before > 0) != (after > 0):
        return (LISTING, product_family(product_id))
    return (product_family(product_id),)


def mark_stale(session: AsyncSession, *names: str) -> None:
    """Remember that ``names`` must be bumped once ``session`` commits."""
    session.info.setdefault(_KEY, set()).update(names)


def _take(session: AsyncSession | Session) -> set[str]:
    names: set[str] = session.info.pop(_KEY, set())
    return names


def stale_channel(db: int) -> str:
    """The channel the stale families are announced on, for Redis database ``db`` (pub/sub
    spans databases; the gateway listens on the same name, ``emporium.gateway.invalidation``)."""
    return f"catalog:stale:{db}"


async def _bump(cache: Cache, names: Iterable[str]) -> None:
    ordered = sorted(names)
    if any(name.startswith(_PRODUCT) for name in ordered):
        await cache.bump(ITEMS)  # before the products' own: see the module's docstring
    for name in ordered:
        await cache.bump(name)
    if isinstance(cache, RedisCache):
        await _announce(cache, ordered)
    elif isinstance(cache, MemoryCache):  # the embedded default: the gateway is in-process
        await LOCAL_PUBSUB.publish(LOCAL_STALE_CHANNEL, json.dumps(ordered))


async def _announce(cache: RedisCache, names: list[str]) -> None:
    client = cache.client
    db = int(client.connection_pool.connection_kwargs.get("db", 0))
    try:
        await client.publish(stale_channel(db), json.dumps(names))
    except (RedisError, OSError, TimeoutError) as error:  # a hint: never fail the caller
        log.warning("announcing stale families failed: %s: %s", type(error).__name__, error)


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
