"""The dead-letter depth is counted without holding letters; dead-letter topics never expire."""

from __future__ import annotations

import random

import pytest

from emporium.kit.bus import Bus, Delivery
from emporium.kit.dlq import (
    DEAD_LETTER_TOPIC_CONFIG,
    DLQ_MARKER,
    DLQ_REPLAYED_OFFSET,
    DLQ_REPLAYED_PARTITION,
    DeadLetterWatch,
    OffsetRanges,
    ensure_dead_letter_topic,
)


def letter(offset: int, partition: int = 0) -> Delivery:
    return Delivery(
        topic="g.dlq",
        partition=partition,
        offset=offset,
        value=b"{}",
        headers=(("dlq-original-topic", b"t"),),
    )


def marker(offset: int, of: int, partition: int = 0) -> Delivery:
    return Delivery(
        topic="g.dlq",
        partition=0,
        offset=offset,
        value=b"",
        headers=(
            (DLQ_MARKER, b"replayed"),
            (DLQ_REPLAYED_PARTITION, str(partition).encode()),
            (DLQ_REPLAYED_OFFSET, str(of).encode()),
        ),
    )


@pytest.mark.parametrize(
    ("added", "ranges"),
    [
        ([], []),
        ([5], [(5, 6)]),
        ([5, 6, 7], [(5, 8)]),
        ([7, 6, 5], [(5, 8)]),
        ([1, 3], [(1, 2), (3, 4)]),
        ([1, 3, 2], [(1, 4)]),
        ([10, 1, 5, 2, 4, 3], [(1, 6), (10, 11)]),
        ([0, 0, 0], [(0, 1)]),
        ([9, 0, 8, 1], [(0, 2), (8, 10)]),
    ],
)
def test_offset_ranges_merge_neighbours(added: list[int], ranges: list[tuple[int, int]]) -> None:
    offsets = OffsetRanges()
    for offset in added:
        offsets.add(offset)
    assert offsets.ranges == ranges
    assert len(offsets) == len(set(added))
    for offset in range(-1, 12):
        assert (offset in offsets) == (offset in set(added))


def test_offset_ranges_agree_with_a_set() -> None:
    chooser = random.Random(7)
    offsets, reference = OffsetRanges(), set[int]()
    for _ in range(3000):
        offset = chooser.randrange(500)
        assert offsets.add(offset) == (offset not in reference)
        reference.add(offset)
    assert len(offsets) == len(reference)
    assert all((o in offsets) == (o in reference) for o in range(-5, 505))
    starts = [start for start, _ in offsets.ranges]
    assert starts == sorted(starts)


def test_the_depth_counts_letters_not_named_by_a_marker_once_each() -> None:
    watch = DeadLetterWatch(bus=None, group="g")  # type: ignore[arg-type]  # count() only
    for offset in range(4):
        watch.count(letter(offset))
    watch.count(marker(4, of=1))
    watch.count(marker(5, of=1))  # the same letter replayed twice
    watch.count(marker(6, of=3))
    assert watch.depth == 2
    watch.count(letter(7))
    assert watch.depth == 3


def test_replaying_everything_keeps_one_range_however_many_letters() -> None:
    watch = DeadLetterWatch(bus=None, group="g")  # type: ignore[arg-type]
    count = 50_000
    for offset in range(count):
        watch.count(letter(offset))
    for offset in range(count):
        watch.count(marker(count + offset, of=offset))
    assert watch.depth == 0
    assert watch._replayed[0].ranges == [(0, count)]


async def test_dead_letter_topics_are_made_without_expiry(bus: Bus, unique: str) -> None:
    topic = f"{unique}.dlq"
    await ensure_dead_letter_topic(bus, topic)
    assert (await bus.topic_config(topic))["retention.ms"] == "-1"
    assert DEAD_LETTER_TOPIC_CONFIG == {"retention.ms": "-1"}


async def test_a_dead_letter_topic_made_before_gets_the_retention_fixed(
    bus: Bus, unique: str
) -> None:
    topic = f"{unique}.dlq"
    await bus.ensure_topics([topic], partitions=1)  # as the kit made them before
    await ensure_dead_letter_topic(bus, topic)
    assert (await bus.topic_config(topic))["retention.ms"] == "-1"
