"""Process-wide publish/subscribe: the embedded stand-in for Redis pub/sub.

Redis pub/sub reaches every process on the server; on the embedded default (``make dev``:
every service and the gateway in one process, no Redis) this reaches every subscriber in
the process, so an announcement such as the catalog's stale cache families still arrives.
``publish`` awaits each subscriber in turn (nothing is queued, nothing is lost while a
subscriber is registered); a subscriber that fails is logged and the others still run, as
a Redis publisher never hears of its subscribers' troubles.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

__all__ = ["LOCAL_PUBSUB", "LOCAL_STALE_CHANNEL", "LocalPubSub", "Subscriber"]

log = logging.getLogger("emporium.kit.cache.local_pubsub")

Subscriber = Callable[[str], Awaitable[None]]

#: The channel of the in-process catalog's announcements of stale cache families (the
#: embedded default's ``catalog:stale:<db>``): the catalog publishes, the gateway listens.
LOCAL_STALE_CHANNEL = "catalog:stale:local"


class LocalPubSub:
    """Channels by name; each message goes to the subscribers registered at that moment."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, channel: str, subscriber: Subscriber) -> Callable[[], None]:
        """Register ``subscriber`` on ``channel``; returns the function that unregisters it."""
        self._subscribers.setdefault(channel, []).append(subscriber)

        def unsubscribe() -> None:
            registered = self._subscribers.get(channel, [])
            if subscriber in registered:
                registered.remove(subscriber)
            if not registered:
                self._subscribers.pop(channel, None)

        return unsubscribe

    async def publish(self, channel: str, message: str) -> int:
        """Hand ``message`` to every subscriber of ``channel``; how many took it."""
        delivered = 0
        for subscriber in list(self._subscribers.get(channel, ())):
            try:
                await subscriber(message)
            except Exception as error:  # a subscriber's failure is not the publisher's
                log.warning("subscriber of %s failed: %s: %s", channel, type(error).__name__, error)
                continue
            delivered += 1
        return delivered


#: The one of this process (what Redis is to the processes sharing it).
LOCAL_PUBSUB = LocalPubSub()
