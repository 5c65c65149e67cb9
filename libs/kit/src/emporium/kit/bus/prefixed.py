"""A topic prefix as a namespace of the bus: ``with_topic_prefix(bus, "t1.")``.

Platforms that share one broker (test runs beside each other) must not see each other's
events. Wrapped, a bus puts the prefix in front of every name it sends to the broker —
the topics records are published to, the topics and the consumer group a subscription
reads with, the topics it ensures — and takes it off the topics of what it delivers. So
everything above the bus (outbox rows, the relay, consumers, their dead-letter topics
``<group>.dlq`` and reader groups, lag metrics, ``dlq-original-topic``) keeps the
contract's names (``catalog.events``) and a dead letter replays into the namespace it came
from. Both implementations, Kafka and in-process, are wrapped alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from emporium.kit.bus.base import Bus, Delivery, Record, Subscription

__all__ = ["PrefixedBus", "PrefixedSubscription", "with_topic_prefix"]


def with_topic_prefix(bus: Bus, prefix: str) -> Bus:
    """``bus`` in the namespace ``prefix`` (``bus`` itself when the prefix is empty)."""
    if not prefix:
        return bus
    if isinstance(bus, PrefixedBus):
        # Namespaces nest: the inner prefix stays outermost on the broker.
        return PrefixedBus(bus.inner, bus.prefix + prefix)
    return PrefixedBus(bus, prefix)


class PrefixedSubscription(Subscription):
    """A subscription of the inner bus, seen with the names of the namespace."""

    def __init__(self, inner: Subscription, prefix: str, topics: Sequence[str], group: str) -> None:
        self.inner = inner
        self.prefix = prefix
        self.topics = tuple(topics)
        self.group = group

    @property  # the inner subscription's, read and written through
    def last_poll_at(self) -> float:
        return self.inner.last_poll_at

    @last_poll_at.setter
    def last_poll_at(self, value: float) -> None:
        self.inner.last_poll_at = value

    def _outside(self, delivery: Delivery) -> Delivery:
        return replace(delivery, topic=delivery.topic.removeprefix(self.prefix))

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def poll(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        batch = await self.inner.poll(max_records=max_records, timeout=timeout)
        return [self._outside(delivery) for delivery in batch]

    @property
    def paused(self) -> bool:
        return self.inner.paused

    def pause(self) -> None:
        self.inner.pause()

    def resume(self) -> None:
        self.inner.resume()

    def mark(self, delivery: Delivery) -> None:
        self.inner.mark(replace(delivery, topic=self.prefix + delivery.topic))

    async def commit(self) -> None:
        await self.inner.commit()

    async def lag(self) -> dict[tuple[str, int], int]:
        lags = await self.inner.lag()
        return {
            (topic.removeprefix(self.prefix), partition): lag
            for (topic, partition), lag in lags.items()
        }


class PrefixedBus(Bus):
    """``inner`` with every topic and group name on the broker prefixed by ``prefix``."""

    def __init__(self, inner: Bus, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def topic(self, name: str) -> str:
        """The broker's name of topic ``name``."""
        return self.prefix + name

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        await self.inner.publish([replace(r, topic=self.prefix + r.topic) for r in records])

    def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        inner = self.inner.subscribe([self.prefix + t for t in topics], self.prefix + group)
        return PrefixedSubscription(inner, self.prefix, topics, group)

    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        await self.inner.ensure_topics([self.prefix + t for t in topics], partitions, config=config)

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self.inner.topic_config(self.prefix + topic)

    async def ping(self) -> None:
        await self.inner.ping()
