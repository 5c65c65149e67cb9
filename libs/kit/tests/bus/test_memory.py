"""What only the in-memory bus has: a broker several buses of one process can share."""

from __future__ import annotations

from emporium.kit.bus import Record
from emporium.kit.bus.memory import InMemoryBus, MemoryBroker


async def test_buses_on_one_broker_see_each_others_records(unique: str) -> None:
    broker = MemoryBroker()
    publisher, consumer = InMemoryBus(broker), InMemoryBus(broker)
    await publisher.start()
    await consumer.start()
    subscription = consumer.subscribe([unique], "g")
    await subscription.start()

    await publisher.publish([Record(topic=unique, value=b"across", key=b"k")])

    assert [d.value for d in await subscription.poll(timeout=5)] == [b"across"]
    await publisher.stop()
    await consumer.stop()


async def test_separate_buses_do_not_share_records(unique: str) -> None:
    first, second = InMemoryBus(), InMemoryBus()
    await first.start()
    await second.start()
    await first.publish([Record(topic=unique, value=b"private")])

    assert unique in first.broker.topics()
    assert unique not in second.broker.topics()
    await first.stop()
    await second.stop()


async def test_keyless_records_are_spread_over_the_partitions(unique: str) -> None:
    bus = InMemoryBus()
    await bus.start()
    await bus.publish([Record(topic=unique, value=b"x") for _ in range(6)])

    assert [bus.broker.end_offset(unique, p) for p in range(3)] == [2, 2, 2]
    await bus.stop()


async def test_a_new_topic_is_assigned_to_members_already_subscribed(unique: str) -> None:
    bus = InMemoryBus(MemoryBroker(default_partitions=2))
    await bus.start()
    subscription = bus.subscribe([unique], "g")
    await subscription.start()
    assert await subscription.lag() == {}

    await bus.publish([Record(topic=unique, value=b"first", key=b"k")])

    lag = await subscription.lag()
    assert set(lag) == {(unique, 0), (unique, 1)}
    assert sum(lag.values()) == 1
    assert [d.value for d in await subscription.poll(timeout=5)] == [b"first"]
    assert sum((await subscription.lag()).values()) == 0
    await bus.stop()


async def test_commits_are_kept_by_the_broker(unique: str) -> None:
    bus = InMemoryBus()
    await bus.start()
    await bus.publish([Record(topic=unique, value=b"x", key=b"k")])
    subscription = bus.subscribe([unique], "g")
    await subscription.start()
    (delivery,) = await subscription.poll(timeout=5)
    assert bus.broker.committed("g", unique, delivery.partition) is None

    subscription.mark(delivery)
    await subscription.commit()

    assert bus.broker.committed("g", unique, delivery.partition) == delivery.offset + 1
    await bus.stop()
