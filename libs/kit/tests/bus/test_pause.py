"""Pausing a member and configuring topics: the part of the ``Bus`` contract the consumer's
outage handling rests on, checked on both implementations (``bus`` is parametrised)."""

from __future__ import annotations

import time

from emporium.kit.bus import Bus, Delivery, Record, Subscription
from emporium.kit.testing import eventually


async def started(bus: Bus, topics: list[str], group: str) -> Subscription:
    subscription = bus.subscribe(topics, group)
    await subscription.start()
    return subscription


async def publish(bus: Bus, topic: str, first: int, count: int) -> None:
    await bus.publish(
        [Record(topic=topic, value=f"m{i}".encode(), key=b"k") for i in range(first, count)]
    )


async def receive(subscription: Subscription, count: int) -> list[Delivery]:
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.2))
        assert len(received) >= count, f"received {len(received)} of {count}"
        return True

    await eventually(probe, timeout=60)
    return received


async def assignment(subscription: Subscription) -> set[tuple[str, int]]:
    return set(await subscription.lag())


async def test_a_paused_member_keeps_polling_and_resumes_where_it_stopped(
    bus: Bus, unique: str
) -> None:
    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, 0, 3)
    member = await started(bus, [unique], f"{unique}-g")
    try:
        first = await receive(member, 1)
        for delivery in first:
            member.mark(delivery)
        member.pause()
        member.pause()  # idempotent
        assert member.paused
        await publish(bus, unique, 3, 6)

        # Several polls while paused: nothing delivered, liveness kept, the partition kept.
        for _ in range(5):
            before = time.monotonic()
            assert await member.poll(timeout=0.3) == []
            assert member.last_poll_at >= before
        assert await assignment(member) == {(unique, 0)}

        member.resume()
        assert not member.paused
        rest = await receive(member, 6 - len(first))
    finally:
        await member.stop()
    assert [d.value for d in first + rest] == [f"m{i}".encode() for i in range(6)]


async def test_partitions_a_paused_member_gains_stay_paused(bus: Bus, unique: str) -> None:
    await bus.ensure_topics([unique], partitions=2)
    await bus.publish([Record(topic=unique, value=b"x", key=f"k{i}".encode()) for i in range(8)])
    group = f"{unique}-g"
    member = await started(bus, [unique], group)
    member.pause()
    other = await started(bus, [unique], group)
    try:

        async def shared() -> bool:
            await member.poll(timeout=0.1)
            await other.poll(timeout=0.1)
            assert len(await assignment(member)) == 1
            return True

        await eventually(shared, timeout=60)
    finally:
        await other.stop()

    async def both_back() -> bool:
        assert await member.poll(timeout=0.2) == []
        assert len(await assignment(member)) == 2
        return True

    try:
        await eventually(both_back, timeout=60)
        assert await member.poll(timeout=0.5) == []  # the regained partition is paused too
        member.resume()
        assert len(await receive(member, 8)) == 8
    finally:
        await member.stop()


async def test_topic_configuration_is_set_on_new_and_existing_topics(bus: Bus, unique: str) -> None:
    created, existing = f"{unique}-new", f"{unique}-old"
    await bus.ensure_topics([existing], partitions=1)
    # ensure_topics returns once the broker describes the topic: read back at once.
    assert (await bus.topic_config(existing)).get("retention.ms") != "-1"

    await bus.ensure_topics([created, existing], partitions=1, config={"retention.ms": "-1"})

    assert (await bus.topic_config(created))["retention.ms"] == "-1"
    assert (await bus.topic_config(existing))["retention.ms"] == "-1"


async def test_topics_just_made_are_described_at_once(bus: Bus, unique: str) -> None:
    # The broker's metadata shows a new topic a moment after CreateTopics answers; each
    # topic is read back the moment ensure_topics returns, twenty times over.
    for index in range(20):
        topic = f"{unique}-{index}"
        await bus.ensure_topics([topic], partitions=1, config={"retention.ms": "-1"})
        assert (await bus.topic_config(topic))["retention.ms"] == "-1"


async def test_configuring_an_existing_topic_keeps_its_other_overrides(
    bus: Bus, unique: str
) -> None:
    await bus.ensure_topics([unique], partitions=1, config={"max.message.bytes": "2000000"})

    await bus.ensure_topics([unique], partitions=1, config={"retention.ms": "-1"})
    await bus.ensure_topics([unique], partitions=1, config={"retention.ms": "-1"})  # no change

    # ensure_topics returns once the broker describes the change: read back at once.
    config = await bus.topic_config(unique)
    assert config["retention.ms"] == "-1"
    assert config["max.message.bytes"] == "2000000"
