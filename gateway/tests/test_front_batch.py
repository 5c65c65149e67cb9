"""The requests of one turn of the event loop ask Redis together, each answered as alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from emporium.gateway.front import BATCH, Ask, RedisFront
from emporium.gateway.outage import Outage


class CountingRedis(Redis):
    """The real client, counting the scripts it runs."""

    scripts = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] == "EVALSHA":
            self.scripts += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[CountingRedis]:
    made = cast("CountingRedis", CountingRedis.from_url(redis_url))
    yield made
    await made.aclose()


def front_on(client: Redis, unique: str) -> RedisFront:
    return RedisFront(
        client,
        limit_prefix=f"{unique}:ratelimit:",
        seq_key=f"{unique}:inv:seq",
        revoked_key=lambda token_id: f"{unique}:revoked:{token_id}",
    )


async def test_one_turns_asks_are_one_script_call_answered_each_as_alone(
    client: CountingRedis, unique: str
) -> None:
    await client.set(f"{unique}:entry:a", b"answer a", px=60_000)
    await client.set(f"{unique}:revoked:t1", b"1", px=60_000)
    await client.set(f"{unique}:inv:seq", 7)
    front = front_on(client, unique)
    asks = [Ask(limit_key="k", limit=2, window=60) for _ in range(3)]
    asks += [
        Ask(entry_key=f"{unique}:entry:a"),
        Ask(entry_key=f"{unique}:entry:missing"),
        Ask(token_id="t1"),
        Ask(token_id="t2"),
    ]
    answers = await asyncio.gather(*(front.ask(ask) for ask in asks))
    assert client.scripts == 1
    windows = [a.decision for a in answers[:3]]
    assert [d.allowed for d in windows if d] == [True, True, False]  # counted in order
    assert [d.remaining for d in windows if d] == [1, 0, 0]
    found, missing = answers[3], answers[4]
    assert (found.entry, found.entry_seconds > 59) == (b"answer a", True)
    assert (missing.entry, missing.seq) == (None, 7)
    assert [a.revoked for a in answers[5:]] == [True, False]
    assert all(a.decision is None for a in answers[3:])


async def test_a_crowd_larger_than_a_batch_takes_several_calls(
    client: CountingRedis, unique: str
) -> None:
    front = front_on(client, unique)
    crowd = BATCH * 2 + 1
    answers = await asyncio.gather(
        *(front.ask(Ask(limit_key="crowd", limit=crowd, window=60)) for _ in range(crowd))
    )
    assert client.scripts == 3
    assert sorted(a.decision.remaining for a in answers if a.decision) == list(range(crowd))


async def test_asks_of_a_later_turn_go_in_a_call_of_their_own(
    client: CountingRedis, unique: str
) -> None:
    front = front_on(client, unique)
    await front.ask(Ask(limit_key="k", limit=5, window=60))
    await front.ask(Ask(limit_key="k", limit=5, window=60))
    assert client.scripts == 2


async def test_a_script_redis_forgot_is_loaded_again(client: CountingRedis, unique: str) -> None:
    front = front_on(client, unique)
    front._sha = "0" * 40  # as after a Redis restart: no such script
    answer = await front.ask(Ask(limit_key="k", limit=5, window=60))
    assert answer.decision is not None
    assert answer.decision.remaining == 4


async def test_every_ask_of_a_batch_goes_on_without_redis_when_it_is_away(unique: str) -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    outage = Outage()
    front = RedisFront(
        client,
        limit_prefix=f"{unique}:",
        seq_key=f"{unique}:seq",
        revoked_key=str,
        outage=outage,
    )
    try:
        answers = await asyncio.gather(
            *(front.ask(Ask(limit_key="k", limit=1, entry_key="e")) for _ in range(3))
        )
        assert all(a.decision is None and a.entry is None for a in answers)
        assert outage.down(time.monotonic())  # left alone for its cooldown
    finally:
        await client.aclose()
