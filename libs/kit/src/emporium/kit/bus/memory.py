"""The in-process bus: Kafka's semantics (partitions, consumer groups, offsets) in memory.

It is the embedded default, not a test double: it keeps the whole ``Bus`` contract.

- A topic is N append-only partition logs (3 by default). A record goes to the partition
  chosen by a stable hash of its key (keyless records: round-robin), so the records of one
  key stay in order.
- A consumer group has a committed offset per (topic, partition). Its started members share
  the partitions; when a member starts or stops the group rebalances: each member first
  commits what it marked on the partitions it loses, then the new owners resume from the
  group's committed offsets. What was delivered but not committed is delivered again
  (at-least-once). A new group starts from the earliest offset.
- Publishing to a missing topic creates it (like Kafka with ``auto.create.topics.enable``).
- A paused member's polls wait and deliver nothing; its assignment and positions stay.
- Topic configuration (``ensure_topics(..., config=...)``) is kept and reported, not acted on
  (records are kept for the broker's life anyway).

The state lives in a ``MemoryBroker``; each ``InMemoryBus`` is a client of one. A bus made
without a broker gets a private one; pass the same broker to several buses to connect
components of one process as a Kafka cluster would (each bus still starts and stops alone).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Record, Subscription

__all__ = ["InMemoryBus", "InMemorySubscription", "MemoryBroker"]

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


@dataclass(eq=False)
class _Group:
    """A consumer group: its started members (in join order) and committed offsets."""

    members: list[InMemorySubscription] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class MemoryBroker:
    """The shared state of in-memory buses: topic logs and consumer groups."""

    def __init__(self, *, default_partitions: int = 3) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.default_partitions = default_partitions
        self._logs: dict[str, list[list[Delivery]]] = {}
        self._round_robin: dict[str, int] = {}
        self._configs: dict[str, dict[str, str]] = {}
        self._groups: dict[str, _Group] = {}
        # One future per waiting poll. Futures (not an asyncio.Condition) because they are
        # created on the running loop at wait time, so a broker outlives any one event loop.
        self._waiters: set[asyncio.Future[None]] = set()

    # -- topics ----------------------------------------------------------------------------

    def topics(self) -> dict[str, int]:
        """Existing topics and their partition counts."""
        return {name: len(partitions) for name, partitions in self._logs.items()}

    def create_topic(self, topic: str, partitions: int | None = None) -> bool:
        """Create ``topic`` if missing (True if created); an existing topic is left as is."""
        if topic in self._logs:
            return False
        count = self.default_partitions if partitions is None else partitions
        if count < 1:
            raise ValueError("a topic needs at least one partition")
        self._logs[topic] = [[] for _ in range(count)]
        self._round_robin[topic] = 0
        # Members already subscribed to this topic get its partitions, as Kafka consumers do
        # once their metadata shows the new topic.
        for group in self._groups.values():
            if any(topic in member.topics for member in group.members):
                self._rebalance(group)
        self._notify()
        return True

    def configure_topic(self, topic: str, config: Mapping[str, str]) -> None:
        """Set configuration entries of an existing topic."""
        if topic not in self._logs:
            raise KeyError(f"no topic {topic}")
        self._configs.setdefault(topic, {}).update(config)

    def topic_config(self, topic: str) -> dict[str, str]:
        """The configuration entries set on ``topic``."""
        if topic not in self._logs:
            raise KeyError(f"no topic {topic}")
        return dict(self._configs.get(topic, {}))

    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next record of this partition will get."""
        return len(self._logs[topic][partition])

    def append(self, records: Sequence[Record]) -> None:
        """Append ``records`` (all of them, in order) and wake waiting polls."""
        now_ms = int(time.time() * 1000)
        for record in records:
            self.create_topic(record.topic)
            partitions = self._logs[record.topic]
            index = self._partition_for(record, len(partitions))
            partition_log = partitions[index]
            partition_log.append(
                Delivery(
                    topic=record.topic,
                    partition=index,
                    offset=len(partition_log),
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    timestamp_ms=now_ms,
                )
            )
        self._notify()

    def _partition_for(self, record: Record, count: int) -> int:
        if record.key is not None:
            # crc32, not hash(): stable across processes and runs (hash() is salted).
            return zlib.crc32(record.key) % count
        index = self._round_robin[record.topic] % count
        self._round_robin[record.topic] = index + 1
        return index

    def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Delivery]:
        """Up to ``limit`` records of one partition, from ``offset`` on."""
        return self._logs[topic][partition][offset : offset + limit]

    # -- groups ----------------------------------------------------------------------------

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset of one partition (None: never committed)."""
        state = self._groups.get(group)
        return None if state is None else state.committed.get((topic, partition))

    def _join(self, member: InMemorySubscription) -> None:
        group = self._groups.setdefault(member.group, _Group())
        group.members.append(member)
        self._rebalance(group)

    def _leave(self, member: InMemorySubscription) -> None:
        group = self._groups[member.group]
        group.members.remove(member)
        member._revoke(set(member.assignment))
        self._rebalance(group)

    def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        self._groups[group].committed.update(offsets)

    def _rebalance(self, group: _Group) -> None:
        """Share the partitions of the group's topics among its members.

        Every partition goes to the subscribed member with the fewest so far (ties: the
        earliest to join). Members first give up (and commit) what they lose, then take
        what they gain, so a new owner always starts from the latest committed offset.
        """
        target: dict[int, set[TopicPartition]] = {id(m): set() for m in group.members}
        topics = sorted({topic for m in group.members for topic in m.topics})
        for topic in topics:
            subscribers = [m for m in group.members if topic in m.topics]
            for partition in range(len(self._logs.get(topic, ()))):
                owner = min(subscribers, key=lambda m: len(target[id(m)]))
                target[id(owner)].add((topic, partition))
        for member in group.members:
            member._revoke(member.assignment - target[id(member)])
        for member in group.members:
            member._assign(target[id(member)] - member.assignment, group.committed)
        self._notify()

    # -- waiting ---------------------------------------------------------------------------

    async def _wait(self, timeout: float) -> None:
        """Wait until something changes (records, assignment, a stop) or ``timeout`` passes."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()


class InMemorySubscription(Subscription):
    """One member of a consumer group of a ``MemoryBroker``."""

    def __init__(self, bus: InMemoryBus, topics: Sequence[str], group: str) -> None:
        if not topics:
            raise ValueError("a subscription needs at least one topic")
        self.topics = tuple(topics)
        self.group = group
        self.last_poll_at = time.monotonic()
        self._bus = bus
        self._broker = bus.broker
        self._started = False
        self._stopped = False
        self._paused = False
        #: Partitions assigned here and the offset of the next record to deliver from each.
        self._positions: dict[TopicPartition, int] = {}
        #: Offset after the last handled record, per partition (committed by ``commit``).
        self._marks: dict[TopicPartition, int] = {}
        self._cursor = 0

    @property
    def assignment(self) -> set[TopicPartition]:
        """The (topic, partition) pairs this member reads now."""
        return set(self._positions)

    async def start(self) -> None:
        """Join the group (the group rebalances)."""
        if self._started:
            raise RuntimeError("subscription already started")
        self._bus._require_running()
        self._started = True
        self.last_poll_at = time.monotonic()
        self._bus._subscriptions.add(self)
        self._broker._join(self)

    async def stop(self) -> None:
        """Commit what was marked, then leave the group (the group rebalances)."""
        if not self._started or self._stopped:
            self._stopped = True
            return
        self._stopped = True
        self._broker._leave(self)
        self._bus._subscriptions.discard(self)

    async def poll(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_records`` deliveries from the assigned partitions (``[]`` once stopped)."""
        if not self._started:
            raise RuntimeError("poll() before start()")
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = [] if self._stopped or self._paused else self._take(max_records)
            remaining = deadline - loop.time()
            if batch or self._stopped or remaining <= 0:
                self.last_poll_at = time.monotonic()
                return batch
            await self._broker._wait(remaining)

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Deliver nothing until ``resume``; the assignment and positions are kept."""
        self._paused = True

    def resume(self) -> None:
        """Deliver again from the positions where the member paused."""
        if self._paused:
            self._paused = False
            self._broker._notify()

    def _take(self, max_records: int) -> list[Delivery]:
        # Start from a different partition each poll so one busy partition cannot starve
        # the others; within a partition the order is the log's.
        partitions = sorted(self._positions)
        if not partitions:
            return []
        self._cursor = (self._cursor + 1) % len(partitions)
        batch: list[Delivery] = []
        for topic, partition in partitions[self._cursor :] + partitions[: self._cursor]:
            if len(batch) >= max_records:
                break
            records = self._broker.read(
                topic, partition, self._positions[(topic, partition)], max_records - len(batch)
            )
            if records:
                self._positions[(topic, partition)] = records[-1].offset + 1
                batch.extend(records)
        return batch

    def mark(self, delivery: Delivery) -> None:
        """Record that ``delivery`` and everything before it in its partition is handled."""
        key = (delivery.topic, delivery.partition)
        self._marks[key] = max(self._marks.get(key, 0), delivery.offset + 1)

    async def commit(self) -> None:
        """Commit the marked offsets of the partitions still assigned here.

        Marks of partitions lost in a rebalance are dropped: their new owner resumes from
        the last commit and delivers those records again (at-least-once).
        """
        self._commit_partitions(set(self._positions))
        self._marks.clear()

    def _commit_partitions(self, partitions: set[TopicPartition]) -> None:
        offsets = {tp: offset for tp, offset in self._marks.items() if tp in partitions}
        if offsets:
            self._broker._commit(self.group, offsets)
        for tp in offsets:
            del self._marks[tp]

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: records after this member's position."""
        return {
            (topic, partition): self._broker.end_offset(topic, partition) - position
            for (topic, partition), position in self._positions.items()
        }

    # -- called by the broker during a rebalance -------------------------------------------

    def _revoke(self, partitions: set[TopicPartition]) -> None:
        if not partitions:
            return
        self._commit_partitions(partitions)
        for tp in partitions:
            self._positions.pop(tp, None)
            self._marks.pop(tp, None)
        log.debug("group %s: revoked %s", self.group, sorted(partitions))

    def _assign(
        self, partitions: set[TopicPartition], committed: dict[TopicPartition, int]
    ) -> None:
        if not partitions:
            return
        for tp in partitions:
            # No commit yet: start from the earliest offset.
            self._positions[tp] = committed.get(tp, 0)
        log.debug("group %s: assigned %s", self.group, sorted(partitions))


class InMemoryBus(Bus):
    """A ``Bus`` on a ``MemoryBroker`` (a private one unless given)."""

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker if broker is not None else MemoryBroker()
        self._running = False
        self._subscriptions: set[InMemorySubscription] = set()

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        """Stop the subscriptions still open (committing their marks), then the bus."""
        for subscription in list(self._subscriptions):
            await subscription.stop()
        self._running = False

    def _require_running(self) -> None:
        if not self._running:
            raise BusUnavailable("the in-memory bus is not started")

    async def publish(self, records: Sequence[Record]) -> None:
        """Append all ``records``; they are visible to subscribers on return."""
        self._require_running()
        self.broker.append(records)

    def subscribe(self, topics: Sequence[str], group: str) -> InMemorySubscription:
        return InMemorySubscription(self, topics, group)

    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        for topic in topics:
            self.broker.create_topic(topic, partitions)
            if config:
                self.broker.configure_topic(topic, config)

    async def topic_config(self, topic: str) -> dict[str, str]:
        self._require_running()
        return self.broker.topic_config(topic)

    async def ping(self) -> None:
        self._require_running()
