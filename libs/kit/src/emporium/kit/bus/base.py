"""The bus contract both implementations keep (Kafka and in-process).

- ``publish`` returns once every record is durably accepted (Kafka: ``acks=all``) or raises
  ``BusUnavailable``; records with one key keep their order (same partition).
- A ``Subscription`` belongs to a consumer group: partitions of its topics are shared among
  the group's members; each delivery reaches one member of each group.
- At-least-once: a member marks what it has handled (``mark``) and commits (``commit``);
  whatever was delivered but not committed is delivered again after a restart or rebalance.
- Back-pressure: a member can ``pause`` while it cannot make progress (its database is
  away). A paused member keeps polling: each poll delivers nothing but keeps its group
  membership (Kafka: heartbeats and ``max.poll.interval.ms``), partitions it is given
  meanwhile are paused too, and ``resume`` goes on exactly where it stopped.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Bus", "BusUnavailable", "Delivery", "Record", "Subscription"]


class BusUnavailable(Exception):
    """The bus did not accept the records (broker down, timeout)."""


@dataclass(frozen=True, slots=True)
class Record:
    """Something to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """Something received, with where it sits in its topic."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0
    header_map: dict[str, bytes] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "header_map", dict(self.headers))

    def header(self, name: str) -> str | None:
        raw = self.header_map.get(name)
        return raw.decode() if raw is not None else None


class Subscription(abc.ABC):
    """One member of a consumer group, reading a set of topics."""

    topics: tuple[str, ...]
    group: str
    #: ``time.monotonic()`` of the last completed poll (``/healthz`` watches it).
    last_poll_at: float

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None:
        """Leave the group; commits what was marked first."""

    @abc.abstractmethod
    async def poll(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_records`` deliveries, waiting at most ``timeout`` seconds for some."""

    @property
    @abc.abstractmethod
    def paused(self) -> bool:
        """Whether the member is paused (polls deliver nothing)."""

    @abc.abstractmethod
    def pause(self) -> None:
        """Stop delivering records, keeping the membership and the positions (idempotent)."""

    @abc.abstractmethod
    def resume(self) -> None:
        """Deliver again from where the member was paused (idempotent)."""

    @abc.abstractmethod
    def mark(self, delivery: Delivery) -> None:
        """Record that ``delivery`` (and everything before it in its partition) is handled."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Commit the marked positions for the group."""

    @abc.abstractmethod
    async def lag(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition) assigned here: messages not yet consumed by this group."""


class Bus(abc.ABC):
    """Publish records and open consumer-group subscriptions."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, records: Sequence[Record]) -> None:
        """Publish all ``records``; return when all are acknowledged, else raise BusUnavailable."""

    @abc.abstractmethod
    def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        """A new (not yet started) member of ``group`` reading ``topics``."""

    @abc.abstractmethod
    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create the topics if missing (idempotent).

        ``config`` is topic configuration in Kafka's names (``{"retention.ms": "-1"}``):
        given to the topics created here and set on those that already exist (their
        partition count is left as it is).
        """

    @abc.abstractmethod
    async def topic_config(self, topic: str) -> dict[str, str]:
        """The topic's configuration (Kafka: every entry the broker reports)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise BusUnavailable if the bus does not answer (``/readyz``)."""
