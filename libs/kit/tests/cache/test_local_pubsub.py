"""The in-process pub/sub (the embedded stand-in for Redis pub/sub)."""

from __future__ import annotations

from emporium.kit.cache.local_pubsub import LocalPubSub


async def test_a_message_reaches_the_subscribers_of_its_channel_only() -> None:
    pubsub = LocalPubSub()
    heard: list[tuple[str, str]] = []

    async def first(message: str) -> None:
        heard.append(("first", message))

    async def second(message: str) -> None:
        heard.append(("second", message))

    pubsub.subscribe("stale", first)
    leave = pubsub.subscribe("stale", second)
    pubsub.subscribe("other", first)
    assert await pubsub.publish("stale", "one") == 2
    leave()
    assert await pubsub.publish("stale", "two") == 1
    assert await pubsub.publish("nobody", "three") == 0
    assert heard == [("first", "one"), ("second", "one"), ("first", "two")]


async def test_a_failing_subscriber_does_not_stop_the_others_or_the_publisher() -> None:
    pubsub = LocalPubSub()
    heard: list[str] = []

    async def broken(message: str) -> None:
        raise RuntimeError("down")

    async def fine(message: str) -> None:
        heard.append(message)

    pubsub.subscribe("stale", broken)
    pubsub.subscribe("stale", fine)
    assert await pubsub.publish("stale", "one") == 1
    assert heard == ["one"]
