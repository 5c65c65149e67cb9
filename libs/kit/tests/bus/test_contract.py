"""The ``Bus`` contract, checked on both implementations (``bus`` is parametrised)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import pytest

from emporium.kit.bus import Bus, BusUnavailable, Delivery, Record, Subscription
from emporium.kit.testing import eventually

# -- helpers -------------------------------------------------------------------------------


async def publish_numbered(
    bus: Bus, topic: str, count: int, *, keys: int = 5, prefix: str = "m"
) -> list[bytes]:
    """Publish ``count`` records ``{prefix}{i}`` keyed ``k{i % keys}``; return their values."""
    records = [
        Record(
            topic=topic,
            value=f"{prefix}{i}".encode(),
            key=f"k{i % keys}".encode(),
            headers=(("seq", str(i).encode()),),
        )
        for i in range(count)
    ]
    await bus.publish(records)
    return [record.value for record in records]


async def collect_from(
    subscriptions: Sequence[Subscription],
    count: int,
    *,
    mark: bool = False,
    commit: bool = False,
    timeout: float = 60.0,
) -> list[list[Delivery]]:
    """Poll all ``subscriptions`` until together they received at least ``count`` deliveries."""
    received: list[list[Delivery]] = [[] for _ in subscriptions]

    async def probe() -> bool:
        for index, subscription in enumerate(subscriptions):
            batch = await subscription.poll(timeout=0.2)
            received[index].extend(batch)
            if mark:
                for delivery in batch:
                    subscription.mark(delivery)
            if commit:
                await subscription.commit()
        total = sum(len(batch) for batch in received)
        assert total >= count, f"received {total} of {count}"
        return True

    await eventually(probe, timeout=timeout)
    return received


async def collect(
    subscription: Subscription, count: int, *, mark: bool = False, commit: bool = False
) -> list[Delivery]:
    """Poll until at least ``count`` deliveries arrived."""
    (received,) = await collect_from([subscription], count, mark=mark, commit=commit)
    return received


def values(deliveries: Sequence[Delivery]) -> list[bytes]:
    return [delivery.value for delivery in deliveries]


async def started(bus: Bus, topics: Sequence[str], group: str) -> Subscription:
    subscription = bus.subscribe(topics, group)
    await subscription.start()
    return subscription


async def assigned(subscription: Subscription) -> set[tuple[str, int]]:
    return set(await subscription.lag())


# -- publish and receive -------------------------------------------------------------------


async def test_a_group_receives_every_record_in_order_per_key(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    published = await publish_numbered(bus, unique, 40, keys=4)
    subscription = await started(bus, [unique], f"{unique}-g")

    received = await collect(subscription, 40)

    assert sorted(values(received)) == sorted(published)
    by_key: dict[bytes | None, list[Delivery]] = defaultdict(list)
    for delivery in received:
        by_key[delivery.key].append(delivery)
    for key, deliveries in by_key.items():
        assert key is not None
        assert len({d.partition for d in deliveries}) == 1, "one key, one partition"
        sequence = [int(d.header("seq") or "-1") for d in deliveries]
        assert sequence == sorted(sequence), f"records of {key!r} out of order"
    first = next(d for d in received if d.header("seq") == "0")
    assert (first.topic, first.key, first.value) == (unique, b"k0", b"m0")
    assert first.headers == (("seq", b"0"),)
    assert first.timestamp_ms > 0


async def test_publishing_to_a_missing_topic_creates_it(bus: Bus, unique: str) -> None:
    await bus.publish([Record(topic=unique, value=b"hello", key=b"k")])
    subscription = await started(bus, [unique], f"{unique}-g")

    received = await collect(subscription, 1)

    assert values(received) == [b"hello"]


async def test_records_without_a_key_are_delivered(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    await bus.publish([Record(topic=unique, value=f"v{i}".encode()) for i in range(9)])
    subscription = await started(bus, [unique], f"{unique}-g")

    received = await collect(subscription, 9)

    assert sorted(values(received)) == sorted(f"v{i}".encode() for i in range(9))
    assert all(d.key is None for d in received)


async def test_a_poll_returns_records_published_while_it_waits(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    subscription = await started(bus, [unique], f"{unique}-g")
    before = subscription.last_poll_at
    assert await subscription.poll(timeout=0.1) == []
    assert subscription.last_poll_at > before

    await bus.publish([Record(topic=unique, value=b"late", key=b"k")])

    assert values(await collect(subscription, 1)) == [b"late"]


async def test_a_subscription_reads_several_topics(bus: Bus, unique: str) -> None:
    topics = [f"{unique}-a", f"{unique}-b"]
    await bus.ensure_topics(topics)
    await bus.publish([Record(topic=t, value=t.encode(), key=b"k") for t in topics])
    subscription = await started(bus, topics, f"{unique}-g")

    received = await collect(subscription, 2)

    assert sorted((d.topic, d.value) for d in received) == [(t, t.encode()) for t in topics]


# -- consumer groups -----------------------------------------------------------------------


async def test_every_group_receives_every_record(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    published = await publish_numbered(bus, unique, 20)
    first = await started(bus, [unique], f"{unique}-one")
    second = await started(bus, [unique], f"{unique}-two")

    one, two = await collect(first, 20), await collect(second, 20)

    assert sorted(values(one)) == sorted(values(two)) == sorted(published)


async def test_members_of_a_group_share_the_partitions(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique], partitions=3)
    group = f"{unique}-g"
    first = await started(bus, [unique], group)
    second = await started(bus, [unique], group)

    async def split() -> bool:
        a, b = await assigned(first), await assigned(second)
        assert a, "first member has partitions"
        assert b, "second member has partitions"
        assert not a & b, f"assignment {a} / {b}"
        assert a | b == {(unique, p) for p in range(3)}
        return True

    await eventually(split)
    published = await publish_numbered(bus, unique, 60, keys=30)

    received = await collect_from([first, second], 60, mark=True, commit=True)

    assert received[0], "the first member received records"
    assert received[1], "the second member received records"
    everything = values(received[0]) + values(received[1])
    assert sorted(everything) == sorted(published), "each record once"


async def test_uncommitted_records_are_delivered_again_to_the_next_member(
    bus: Bus, unique: str
) -> None:
    await bus.ensure_topics([unique])
    published = await publish_numbered(bus, unique, 20)
    group = f"{unique}-g"
    crashed = await started(bus, [unique], group)
    assert len(await collect(crashed, 20)) == 20
    await crashed.stop()  # nothing marked: nothing committed

    successor = await started(bus, [unique], group)

    assert sorted(values(await collect(successor, 20))) == sorted(published)


async def test_committed_records_are_not_delivered_again(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    await publish_numbered(bus, unique, 20, prefix="old")
    group = f"{unique}-g"
    first = await started(bus, [unique], group)
    await collect(first, 20, mark=True)
    await first.commit()
    await first.stop()
    newer = await publish_numbered(bus, unique, 5, prefix="new")

    restarted = await started(bus, [unique], group)
    received = await collect(restarted, 5)

    assert sorted(values(received)) == sorted(newer)
    assert await restarted.poll(timeout=0.5) == []


async def test_stop_commits_what_was_marked(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    await publish_numbered(bus, unique, 10, keys=1, prefix="old")  # one key: one partition
    group = f"{unique}-g"
    first = await started(bus, [unique], group)
    received = await collect(first, 10)
    for delivery in received[:6]:
        first.mark(delivery)
    await first.stop()  # no commit() call: stop commits the marks

    restarted = await started(bus, [unique], group)

    again = await collect(restarted, 4)
    assert sorted(values(again)) == sorted(values(received[6:]))


async def test_a_rebalance_commits_the_marks_of_revoked_partitions(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique], partitions=3)
    group = f"{unique}-g"
    old = await publish_numbered(bus, unique, 30, keys=30, prefix="old")
    first = await started(bus, [unique], group)
    await collect(first, 30, mark=True)  # marked, never committed explicitly

    second = await started(bus, [unique], group)  # takes partitions from the first member

    async def split() -> bool:
        a, b = await assigned(first), await assigned(second)
        assert a, "first member has partitions"
        assert b, "second member has partitions"
        assert not a & b, f"assignment {a} / {b}"
        return True

    await eventually(split)
    newer = await publish_numbered(bus, unique, 30, keys=30, prefix="new")
    received = await collect_from([first, second], 30, mark=True, commit=True)
    everything = values(received[0]) + values(received[1])
    assert not set(everything) & set(old), "marked records came back after the rebalance"
    assert sorted(everything) == sorted(newer)


async def test_lag_counts_what_the_group_has_not_consumed(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique], partitions=3)
    await publish_numbered(bus, unique, 12, keys=12)
    subscription = await started(bus, [unique], f"{unique}-g")

    async def lag_is(expected: int) -> bool:
        lag = await subscription.lag()
        assert set(lag) == {(unique, p) for p in range(3)}
        assert sum(lag.values()) == expected, f"lag {lag}"
        return True

    await eventually(lambda: lag_is(12))
    await collect(subscription, 12)
    await eventually(lambda: lag_is(0))
    await publish_numbered(bus, unique, 3, keys=3, prefix="more")
    await eventually(lambda: lag_is(3))


# -- topics and lifecycle ------------------------------------------------------------------


async def test_ensure_topics_is_idempotent(bus: Bus, unique: str) -> None:
    topics = [f"{unique}-a", f"{unique}-b"]
    await bus.ensure_topics(topics, partitions=2)
    await bus.ensure_topics(topics, partitions=2)
    await bus.ensure_topics([topics[0]], partitions=5)  # existing: left as it is

    subscription = await started(bus, topics, f"{unique}-g")

    async def two_partitions_each() -> bool:
        assert await assigned(subscription) == {(t, p) for t in topics for p in range(2)}
        return True

    await eventually(two_partitions_each)


async def test_ping_answers_while_started(bus: Bus) -> None:
    await bus.ping()


async def test_a_stopped_bus_refuses_to_publish(bus: Bus, unique: str) -> None:
    await bus.stop()

    with pytest.raises(BusUnavailable):
        await bus.publish([Record(topic=unique, value=b"x")])
    with pytest.raises(BusUnavailable):
        await bus.ping()


async def test_stopping_the_bus_stops_its_subscriptions(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique])
    subscription = await started(bus, [unique], f"{unique}-g")

    await bus.stop()

    started_at = time.monotonic()
    assert await subscription.poll(timeout=0.1) == []
    assert subscription.last_poll_at >= started_at
