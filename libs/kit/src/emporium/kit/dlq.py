"""Dead letters: the record format, reading a group's dead-letter topic, and replay.

A consumer group that cannot handle an event (undecodable, or its handler failed
``max_attempts`` times) publishes it to its dead-letter topic (``<group>.dlq``) and goes on.
The dead letter is the original record — value and key unchanged, original headers kept —
plus ``dlq-*`` headers saying why and where it came from:

``dlq-error``               exception type and message (truncated)
``dlq-original-topic``      where it was consumed from,
``dlq-original-partition``  its partition
``dlq-original-offset``     and offset
``dlq-group``               the consumer group that gave up
``dlq-failed-at``           when (ISO 8601, UTC)
``dlq-attempts``            how many times the handler ran

Replay republishes the original record (the ``dlq-*`` headers removed) to its original
topic with one header, ``dlq-replay-for: <group>``: only the group that failed handles it
(once, through its inbox, if its handler has been fixed); every other group reading the
topic ignores it, so a replay can never apply an event twice for a group whose inbox has
been purged since it applied it. Replays are recorded in the dead-letter topic itself by a
*marker* record (header ``dlq-marker: replayed`` with ``dlq-replayed-partition``,
``-offset`` and ``-at``), so the topic stays the single source of truth and ``list`` can
show which letters were replayed; markers are not dead letters.

Dead-letter topics are made by the kit with ``retention.ms=-1`` (``DEAD_LETTER_TOPIC_CONFIG``):
a letter stays until someone deals with it, never expiring with the broker's default
retention (7 days); ``ensure_dead_letter_topic`` also sets it on a topic made earlier.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from emporium.kit.bus.base import Bus, Delivery, Record, Subscription
from emporium.kit.ids import uuid7
from emporium.kit.metrics import DEAD_LETTER_DEPTH

__all__ = [
    "DEAD_LETTER_TOPIC_CONFIG",
    "DLQ_ATTEMPTS",
    "DLQ_ERROR",
    "DLQ_FAILED_AT",
    "DLQ_GROUP",
    "DLQ_MARKER",
    "DLQ_ORIGINAL_OFFSET",
    "DLQ_ORIGINAL_PARTITION",
    "DLQ_ORIGINAL_TOPIC",
    "DLQ_REPLAYED_AT",
    "DLQ_REPLAYED_OFFSET",
    "DLQ_REPLAYED_PARTITION",
    "DLQ_REPLAY_FOR",
    "DeadLetter",
    "DeadLetterWatch",
    "OffsetRanges",
    "dead_letter_record",
    "dead_letter_topic",
    "ensure_dead_letter_topic",
    "read_dead_letters",
    "replay",
]

DLQ_ERROR = "dlq-error"
DLQ_ORIGINAL_TOPIC = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "dlq-original-offset"
DLQ_GROUP = "dlq-group"
DLQ_FAILED_AT = "dlq-failed-at"
DLQ_ATTEMPTS = "dlq-attempts"
DLQ_MARKER = "dlq-marker"
DLQ_REPLAY_FOR = "dlq-replay-for"
DLQ_REPLAYED_PARTITION = "dlq-replayed-partition"
DLQ_REPLAYED_OFFSET = "dlq-replayed-offset"
DLQ_REPLAYED_AT = "dlq-replayed-at"

_PREFIX = "dlq-"
_ERROR_LIMIT = 1000


def dead_letter_topic(group: str) -> str:
    """The default dead-letter topic of a consumer group."""
    return f"{group}.dlq"


#: Configuration of the dead-letter topics the kit creates: letters never expire.
DEAD_LETTER_TOPIC_CONFIG: Mapping[str, str] = {"retention.ms": "-1"}


async def ensure_dead_letter_topic(bus: Bus, topic: str) -> None:
    """Create ``topic`` as a dead-letter topic (one partition, no expiry), or fix its config."""
    await bus.ensure_topics([topic], partitions=1, config=DEAD_LETTER_TOPIC_CONFIG)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dead_letter_record(
    delivery: Delivery,
    *,
    group: str,
    error: BaseException | str,
    topic: str | None = None,
    attempts: int = 0,
) -> Record:
    """The dead letter for ``delivery``: its value, key and headers plus the ``dlq-*`` ones."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    headers = [(name, value) for name, value in delivery.headers if not name.startswith(_PREFIX)]
    headers += [
        (DLQ_ERROR, reason[:_ERROR_LIMIT].encode()),
        (DLQ_ORIGINAL_TOPIC, delivery.topic.encode()),
        (DLQ_ORIGINAL_PARTITION, str(delivery.partition).encode()),
        (DLQ_ORIGINAL_OFFSET, str(delivery.offset).encode()),
        (DLQ_GROUP, group.encode()),
        (DLQ_FAILED_AT, _now_iso().encode()),
        (DLQ_ATTEMPTS, str(attempts).encode()),
    ]
    return Record(
        topic=topic or dead_letter_topic(group),
        value=delivery.value,
        key=delivery.key,
        headers=tuple(headers),
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as read from the dead-letter topic (plus whether it was replayed)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    error: str
    original_topic: str
    original_partition: int
    original_offset: int
    group: str
    failed_at: str
    attempts: int
    type: str | None
    event_id: str | None
    replayed_at: str | None = None

    @property
    def ref(self) -> str:
        """``partition:offset``, how the CLI names a dead letter."""
        return f"{self.partition}:{self.offset}"

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> DeadLetter | None:
        """Parse a record of a dead-letter topic; None for replay markers and foreign records."""
        if delivery.header(DLQ_MARKER) is not None:
            return None
        original_topic = delivery.header(DLQ_ORIGINAL_TOPIC)
        if original_topic is None:
            return None
        return cls(
            partition=delivery.partition,
            offset=delivery.offset,
            key=delivery.key,
            value=delivery.value,
            headers=delivery.headers,
            error=delivery.header(DLQ_ERROR) or "",
            original_topic=original_topic,
            original_partition=_int(delivery.header(DLQ_ORIGINAL_PARTITION)),
            original_offset=_int(delivery.header(DLQ_ORIGINAL_OFFSET)),
            group=delivery.header(DLQ_GROUP) or "",
            failed_at=delivery.header(DLQ_FAILED_AT) or "",
            attempts=_int(delivery.header(DLQ_ATTEMPTS)),
            type=delivery.header("type"),
            event_id=delivery.header("id"),
        )

    def original_record(self) -> Record:
        """The record as it was first published: same topic, value, key; no ``dlq-*`` headers."""
        return Record(
            topic=self.original_topic,
            value=self.value,
            key=self.key,
            headers=tuple((n, v) for n, v in self.headers if not n.startswith(_PREFIX)),
        )

    def replay_record(self) -> Record:
        """The original record addressed to the group that gave up (``dlq-replay-for``)."""
        original = self.original_record()
        if not self.group:
            return original
        return replace(original, headers=(*original.headers, (DLQ_REPLAY_FOR, self.group.encode())))

    def replay_marker(self, dlq_topic: str) -> Record:
        """The marker saying this letter was replayed (published after the replay)."""
        return Record(
            topic=dlq_topic,
            value=b"",
            key=self.key,
            headers=(
                (DLQ_MARKER, b"replayed"),
                (DLQ_REPLAYED_PARTITION, str(self.partition).encode()),
                (DLQ_REPLAYED_OFFSET, str(self.offset).encode()),
                (DLQ_REPLAYED_AT, _now_iso().encode()),
            ),
        )


def _int(raw: str | None) -> int:
    try:
        return int(raw) if raw is not None else -1
    except ValueError:
        return -1


async def read_dead_letters(
    bus: Bus,
    topic: str,
    *,
    reader_group: str | None = None,
    timeout: float = 30.0,
) -> list[DeadLetter]:
    """Every dead letter in ``topic`` from the beginning, with replays applied, in order.

    Reads with a throwaway consumer group (``reader_group``, default a fresh
    ``<topic>.reader-<time>``) until its lag is zero, so the real group's offsets are never
    touched. ``timeout`` bounds the whole read.
    """
    group = reader_group or f"{topic}.reader-{time.time_ns()}"
    await ensure_dead_letter_topic(bus, topic)
    subscription = bus.subscribe([topic], group)
    deliveries: list[Delivery] = []
    deadline = time.monotonic() + timeout
    await subscription.start()
    try:
        while True:
            batch = await subscription.poll(max_records=500, timeout=0.5)
            for delivery in batch:
                deliveries.append(delivery)
                subscription.mark(delivery)
            if batch:
                await subscription.commit()
                continue
            lag = await subscription.lag()
            # An empty lag means no partition is assigned yet (the group is still joining).
            if lag and all(value <= 0 for value in lag.values()):
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout}s")
            await asyncio.sleep(0.05)
    finally:
        await subscription.stop()
    replayed: dict[tuple[int, int], str] = {}
    for delivery in deliveries:
        if delivery.header(DLQ_MARKER) == "replayed":
            ref = (
                _int(delivery.header(DLQ_REPLAYED_PARTITION)),
                _int(delivery.header(DLQ_REPLAYED_OFFSET)),
            )
            replayed.setdefault(ref, delivery.header(DLQ_REPLAYED_AT) or "?")
    letters: list[DeadLetter] = []
    for delivery in sorted(deliveries, key=lambda d: (d.partition, d.offset)):
        letter = DeadLetter.from_delivery(delivery)
        if letter is None:
            continue
        replayed_at = replayed.get((letter.partition, letter.offset))
        if replayed_at is not None:
            letter = replace(letter, replayed_at=replayed_at)
        letters.append(letter)
    return letters


async def replay(bus: Bus, letters: Sequence[DeadLetter], *, dlq_topic: str) -> int:
    """Republish ``letters`` to their original topics (for the group that gave up each one:
    ``DeadLetter.replay_record``), then record a marker for each.

    The originals go first: if the process dies before the markers, a later replay sends
    them again, which the inboxes absorb. Returns how many were replayed.
    """
    if not letters:
        return 0
    await bus.publish([letter.replay_record() for letter in letters])
    await bus.publish([letter.replay_marker(dlq_topic) for letter in letters])
    return len(letters)


class OffsetRanges:
    """A set of offsets kept as sorted, disjoint ``[start, end)`` ranges.

    Replays usually cover runs of letters (``replay --all``), so the set of replayed offsets
    stays a handful of ranges however many letters a topic holds.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, offset: object) -> bool:
        if not isinstance(offset, int):
            return False
        index = bisect.bisect_right(self._starts, offset) - 1
        return index >= 0 and offset < self._ends[index]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The ranges, in order (``[start, end)``)."""
        return list(zip(self._starts, self._ends, strict=True))

    def add(self, offset: int) -> bool:
        """Add ``offset``; False if it was already there."""
        if offset in self:
            return False
        index = bisect.bisect_right(self._starts, offset)
        joins_left = index > 0 and self._ends[index - 1] == offset
        joins_right = index < len(self._starts) and self._starts[index] == offset + 1
        if joins_left and joins_right:
            self._ends[index - 1] = self._ends[index]
            del self._starts[index], self._ends[index]
        elif joins_left:
            self._ends[index - 1] = offset + 1
        elif joins_right:
            self._starts[index] = offset
        else:
            self._starts.insert(index, offset)
            self._ends.insert(index, offset + 1)
        self._count += 1
        return True


class DeadLetterWatch:
    """Follows a group's dead-letter topic and keeps the count of letters not yet replayed.

    It reads with a private, never-committing reader group, so every process start reads
    the topic from its beginning and the count is exact, whoever replayed what; then it
    only reads what is new. ``refresh`` never waits for records: it is called between
    batches by the consumer and sets ``emporium_dead_letter_depth{group}``.

    No letter is held in memory: per partition it counts the letters read and keeps the
    replayed offsets as ranges (``OffsetRanges``), so a letter replayed twice counts once.
    """

    def __init__(self, bus: Bus, group: str, *, topic: str | None = None) -> None:
        self.bus = bus
        self.group = group
        self.topic = topic or dead_letter_topic(group)
        self._subscription: Subscription | None = None
        self._letters: dict[int, int] = {}
        self._replayed: dict[int, OffsetRanges] = {}

    @property
    def depth(self) -> int:
        """Letters read so far that no replay marker names."""
        letters = sum(self._letters.values())
        return letters - sum(len(ranges) for ranges in self._replayed.values())

    def count(self, delivery: Delivery) -> None:
        """Take one record of the dead-letter topic into the count."""
        if delivery.header(DLQ_MARKER) == "replayed":
            partition = _int(delivery.header(DLQ_REPLAYED_PARTITION))
            offset = _int(delivery.header(DLQ_REPLAYED_OFFSET))
            if partition >= 0 and offset >= 0:
                self._replayed.setdefault(partition, OffsetRanges()).add(offset)
        elif delivery.header(DLQ_MARKER) is None:
            self._letters[delivery.partition] = self._letters.get(delivery.partition, 0) + 1

    async def refresh(self) -> int:
        """Read what is new in the topic (without waiting), set the gauge, return the depth."""
        if self._subscription is None:
            await ensure_dead_letter_topic(self.bus, self.topic)
            subscription = self.bus.subscribe([self.topic], f"{self.topic}.depth-{uuid7().hex}")
            await subscription.start()
            self._subscription = subscription
        while batch := await self._subscription.poll(max_records=500, timeout=0.01):
            for delivery in batch:
                self.count(delivery)
        DEAD_LETTER_DEPTH.labels(self.group).set(self.depth)
        return self.depth

    async def close(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.stop()
