"""Exact availability: the catalog's announcements of stale families drop the cached answers.

After a commit the catalog bumps its own cache families (``product:<id>``, ``listing``,
``categories``) and then publishes their names on the Redis channel
``catalog:stale:<db>`` (``emporium.catalog.invalidation``). Every gateway process listens
and drops the stored answers of exactly those families (``answers.py``), so a unit
reserved or released by the checkout saga shows through the gateway within milliseconds
of the catalog's commit, while every other answer stays cached. A stock change announces
only ``product:<id>`` unless the product went in or out of stock (then ``listing`` too):
the listing answers that show the product are indexed under its family as well
(``response_cache.listing_families``), so they go with its page, and the others stay.

Why Redis and not a consumer of ``catalog.events``: the announcement comes after the
catalog's own cache is fresh (an event can overtake that bump, and the gateway would cache
the catalog's old answer again); it needs nothing but the Redis the gateway already uses
(no Kafka client, consumer group or topic replay in the edge); and it reaches every
gateway replica at once. Pub/sub is at-most-once: while this listener is disconnected an
announcement can be missed, so after every reconnection it drops every family it has
answers of, and answers never outlive ``GATEWAY_RESPONSE_CACHE_SECONDS`` anyway.

The same announcements drop each process's in-process copies (``local_answers.py``), which
are kept and served only while the subscription is up: a listener that loses its
connection drops them all and keeps none until it is subscribed again.

On the embedded default (no Redis; ``make dev`` runs the catalog in the gateway's process)
the catalog announces on the process's pub/sub instead (``LOCAL_STALE_CHANNEL``), and
``listening_locally`` drops the memory answers the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from emporium.gateway.response_cache import ResponseCache
from emporium.kit.cache.local_pubsub import LOCAL_PUBSUB, LOCAL_STALE_CHANNEL, LocalPubSub

__all__ = [
    "LOCAL_STALE_CHANNEL",
    "StaleListener",
    "families_in",
    "listening_locally",
    "stale_channel",
]

log = logging.getLogger("emporium.gateway.invalidation")

_FAMILY = re.compile(
    r"listing|categories|product:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_MAX_BACKOFF = 5.0


def stale_channel(db: int) -> str:
    """The channel of the catalog's announcements for Redis database ``db`` (pub/sub
    channels span databases; the number keeps two platforms on one server apart)."""
    return f"catalog:stale:{db}"


def families_in(message: bytes | str) -> list[str]:
    """The well-formed family names of one announcement (a JSON list); others are ignored."""
    try:
        names = json.loads(message)
    except ValueError:
        return []
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and _FAMILY.fullmatch(name)]


class StaleListener:
    """Subscribes to the catalog's channel and invalidates what it announces."""

    def __init__(self, url: str, cache: ResponseCache) -> None:
        # A connection of its own, without the cache's short socket timeout: a
        # subscription is idle between announcements.
        self._client: Redis = Redis.from_url(url, health_check_interval=30)
        db = int(self._client.connection_pool.connection_kwargs.get("db", 0))
        self.channel = stale_channel(db)
        self._cache = cache
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        backoff = 0.1
        connected_before = False
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if connected_before:
                        await self._drop_all()  # announcements may have been missed
                    connected_before = True
                    self.subscribed.set()
                    if self._cache.local is not None:
                        self._cache.local.enabled = True  # from now on nothing is missed
                    backoff = 0.1
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=5.0
                        )
                        if message is not None and message.get("type") == "message":
                            await self._handle(message["data"])
            except (RedisError, OSError, TimeoutError) as error:
                self.subscribed.clear()
                self._stop_local()
                log.warning("catalog invalidations: %s; listening again in %.1f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _handle(self, data: bytes | str) -> None:
        families = families_in(data)
        if families:
            await self._cache.invalidate(families)

    def _stop_local(self) -> None:
        # Deaf to announcements: in-process copies could go stale unseen. Redis's copies
        # are still dropped by the replicas that hear them.
        local = self._cache.local
        if local is not None:
            local.enabled = False
            local.clear()

    async def _drop_all(self) -> None:
        if self._cache.local is not None:
            self._cache.local.clear()
        families = await self._cache.answers.families()
        if families:
            await self._cache.invalidate(families)
            log.info("catalog invalidations: reconnected; dropped %d families", len(families))

    async def close(self) -> None:
        self._stop_local()
        await self._client.aclose()


@contextlib.asynccontextmanager
async def listening(listener: StaleListener) -> AsyncIterator[StaleListener]:
    """Run ``listener`` in the background for the lifespan of the app."""
    task = asyncio.create_task(listener.run(), name="catalog-invalidations")
    try:
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await listener.close()


@contextlib.asynccontextmanager
async def listening_locally(
    cache: ResponseCache, pubsub: LocalPubSub = LOCAL_PUBSUB
) -> AsyncIterator[None]:
    """Drop the answers of the families the in-process catalog announces, for the lifespan
    of the app (the embedded default's ``StaleListener``; nothing to reconnect)."""

    async def handle(data: str) -> None:
        families = families_in(data)
        if families:
            await cache.invalidate(families)

    unsubscribe = pubsub.subscribe(LOCAL_STALE_CHANNEL, handle)
    try:
        yield
    finally:
        unsubscribe()
