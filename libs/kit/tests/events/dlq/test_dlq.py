"""Dead letters: reading them back, replaying them once the handler is fixed, the CLI.

Replay is addressed to the group that gave up (``dlq-replay-for``): it applies the event once
through its inbox; every other group ignores it, even one whose inbox has been purged since
it applied the event; replaying again applies nothing more.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import Uuid, column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus, Delivery
from emporium.kit.consumer import EventConsumer, Handler
from emporium.kit.db import Database
from emporium.kit.dlq import (
    DeadLetter,
    DeadLetterWatch,
    dead_letter_record,
    read_dead_letters,
    replay,
)
from emporium.kit.events import Envelope
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox
from emporium.kit.relay import OutboxRelay
from emporium.kit.testing import eventually

STOCK = StockChanged.type_name()
EFFECT = table("effect", column("n"), column("event_id", Uuid), column("key"), column("seq"))

# -- helpers -------------------------------------------------------------------------------


class Service:
    """Two consumer groups of one topic; ``broken`` makes group ``a``'s handler fail."""

    def __init__(self, database: Database, bus: Bus, name: str) -> None:
        self.database = database
        self.bus = bus
        self.topic = name
        self.broken = True
        self.group_a, self.group_b = f"{name}-a", f"{name}-b"
        self.a = self._consumer(self.group_a, self._handle_a)
        self.b = self._consumer(self.group_b, self._handle_b)

    def _consumer(self, group: str, handler: Handler) -> EventConsumer:
        return EventConsumer(
            self.database,
            self.bus,
            group=group,
            topics=[self.topic],
            handlers={STOCK: handler},
            service_name="tests",
            max_attempts=2,
            backoff_seconds=0.01,
        )

    async def _handle_a(self, session: AsyncSession, envelope: Envelope) -> None:
        if self.broken:
            raise LookupError(f"no product {envelope.key} here yet")
        await self._effect(session, envelope, self.group_a)

    async def _handle_b(self, session: AsyncSession, envelope: Envelope) -> None:
        await self._effect(session, envelope, self.group_b)

    @staticmethod
    async def _effect(session: AsyncSession, envelope: Envelope, group: str) -> None:
        await session.execute(
            insert(EFFECT).values(event_id=envelope.id, key=group, seq=envelope.data["on_hand"])
        )

    async def write(self, seq: int, *, key: uuid.UUID | None = None) -> Envelope:
        """An event through the outbox and the relay, as a service would publish it."""
        async with self.database.session() as session:
            product = key or uuid.uuid4()
            data = StockChanged(product_id=product, on_hand=seq, reserved=0, available=seq)
            envelope = await Outbox("tests").add(
                session, data, key=data.product_id, topic=self.topic
            )
        assert await OutboxRelay(self.database, self.bus, service_name="tests").run_once() == 1
        return envelope

    async def effects(self) -> list[tuple[str, int]]:
        async with self.database.session() as session:
            rows = await session.execute(select(EFFECT.c.key, EFFECT.c.seq).order_by(EFFECT.c.n))
            return [(row[0], row[1]) for row in rows]

    async def close(self) -> None:
        await self.a.close()
        await self.b.close()


async def consume(consumer: EventConsumer, count: int) -> list[str]:
    """Drive ``consumer`` until it has dealt with ``count`` deliveries; their outcomes."""
    outcomes: list[str] = []

    async def probe() -> bool:
        outcomes.extend(await consumer.run_once(timeout=0.2))
        assert len(outcomes) >= count, f"{len(outcomes)} of {count}: {outcomes}"
        return True

    await eventually(probe, timeout=60)
    return outcomes


@pytest.fixture
async def service(database: Database, bus: Bus, unique: str) -> AsyncIterator[Service]:
    made = Service(database, bus, unique)
    yield made
    await made.close()


# -- replay ----------------------------------------------------------------------------------


async def test_a_replayed_dead_letter_is_applied_once_by_the_fixed_group_only(
    service: Service, bus: Bus
) -> None:
    envelope = await service.write(7)
    assert await consume(service.a, 1) == ["dead_lettered"]
    assert await consume(service.b, 1) == ["handled"]
    (letter,) = await read_dead_letters(bus, f"{service.group_a}.dlq")
    assert letter.event_id == str(envelope.id)
    assert letter.replayed_at is None

    service.broken = False
    assert await replay(bus, [letter], dlq_topic=f"{service.group_a}.dlq") == 1

    assert await consume(service.a, 1) == ["handled"]
    assert await consume(service.b, 1) == ["ignored"]  # replayed for group a alone
    assert await service.effects() == [(service.group_b, 7), (service.group_a, 7)]
    (replayed,) = await read_dead_letters(bus, f"{service.group_a}.dlq")
    assert replayed.replayed_at is not None

    assert await replay(bus, [replayed], dlq_topic=f"{service.group_a}.dlq") == 1

    assert await consume(service.a, 1) == ["duplicate"]
    assert await consume(service.b, 1) == ["ignored"]
    assert await service.effects() == [(service.group_b, 7), (service.group_a, 7)]


async def test_a_replay_is_not_applied_again_by_a_group_whose_inbox_was_purged(
    service: Service, bus: Bus
) -> None:
    await service.write(8)
    assert await consume(service.a, 1) == ["dead_lettered"]
    assert await consume(service.b, 1) == ["handled"]
    service.b.inbox_retention = timedelta(0)
    assert await service.b.purge_inbox() == 1  # b no longer remembers the event

    service.broken = False
    (letter,) = await read_dead_letters(bus, f"{service.group_a}.dlq")
    assert dict(letter.replay_record().headers)["dlq-replay-for"] == service.group_a.encode()
    await replay(bus, [letter], dlq_topic=f"{service.group_a}.dlq")

    assert await consume(service.a, 1) == ["handled"]
    assert await consume(service.b, 1) == ["ignored"]
    assert await service.effects() == [(service.group_b, 8), (service.group_a, 8)]


async def test_dead_letters_read_back_with_where_they_came_from(service: Service, bus: Bus) -> None:
    key = uuid.uuid4()  # one key: the letters keep the order of the events
    first, second = await service.write(1, key=key), await service.write(2, key=key)
    assert await consume(service.a, 2) == ["dead_lettered", "dead_lettered"]

    letters = await read_dead_letters(bus, f"{service.group_a}.dlq")

    assert [letter.event_id for letter in letters] == [str(first.id), str(second.id)]
    assert [letter.offset for letter in letters] == [0, 1]
    for letter, envelope in zip(letters, (first, second), strict=True):
        assert letter.type == STOCK
        assert letter.error == f"LookupError: no product {envelope.key} here yet"
        assert letter.original_topic == service.topic
        assert letter.original_partition >= 0
        assert letter.original_offset >= 0
        assert letter.group == service.group_a
        assert letter.attempts == 2
        assert Envelope.from_bytes(letter.value) == envelope
        original = letter.original_record()
        assert original.topic == service.topic
        assert original.key == envelope.key.encode()
        assert original.value == letter.value
        assert not any(name.startswith("dlq-") for name, _ in original.headers)
        assert dict(original.headers)["id"] == str(envelope.id).encode()


async def test_an_empty_dead_letter_topic_reads_as_no_letters(bus: Bus, unique: str) -> None:
    assert await read_dead_letters(bus, f"{unique}.dlq") == []


def test_a_dead_letter_record_keeps_the_original_and_adds_why() -> None:
    delivery = Delivery(
        topic="orders.events",
        partition=2,
        offset=41,
        value=b"{}",
        key=b"k",
        headers=(("type", b"orders.X.v1"), ("dlq-error", b"stale from an earlier failure")),
    )

    letter = dead_letter_record(delivery, group="g", error=ValueError("x" * 5000), attempts=5)

    headers = dict(letter.headers)
    assert (letter.topic, letter.key, letter.value) == ("g.dlq", b"k", b"{}")
    assert headers["type"] == b"orders.X.v1"
    assert headers["dlq-error"].startswith(b"ValueError: xxx")
    assert len(headers["dlq-error"]) <= 1000
    assert [name for name, _ in letter.headers].count("dlq-error") == 1
    assert headers["dlq-original-topic"] == b"orders.events"
    assert headers["dlq-original-partition"] == b"2"
    assert headers["dlq-original-offset"] == b"41"
    assert headers["dlq-group"] == b"g"
    assert headers["dlq-attempts"] == b"5"
    assert (
        DeadLetter.from_delivery(
            Delivery(topic="g.dlq", partition=0, offset=0, value=b"{}", headers=letter.headers)
        )
        is not None
    )


# -- the CLI (a separate process, so Kafka only) ---------------------------------------------


async def dlq_cli(bootstrap: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emporium.kit.dlq_cli",
        *args,
        "--bootstrap",
        bootstrap,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def lines(output: str) -> Sequence[str]:
    return [line for line in output.splitlines() if line.strip()]


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True)
async def test_the_cli_lists_shows_and_replays_dead_letters(
    service: Service, kafka_bootstrap: str
) -> None:
    key = uuid.uuid4()
    first, second = await service.write(1, key=key), await service.write(2, key=key)
    assert await consume(service.a, 2) == ["dead_lettered", "dead_lettered"]
    group = ["--group", service.group_a]

    code, out, err = await dlq_cli(kafka_bootstrap, "list", *group)

    assert code == 0, err
    listed = lines(out)
    assert len(listed) == 2
    assert listed[0].startswith(f"offset=0:0 state=pending type={STOCK} id={first.id} ")
    assert f"origin={service.topic}/" in listed[0]
    assert "error=LookupError: no product" in listed[0]
    assert listed[1].startswith(f"offset=0:1 state=pending type={STOCK} id={second.id} ")

    code, out, err = await dlq_cli(kafka_bootstrap, "show", *group, "1")

    assert code == 0, err
    assert f"id={second.id}" in out
    assert "dlq-original-topic: " + service.topic in out
    assert '"on_hand": 2' in out

    service.broken = False
    code, out, err = await dlq_cli(kafka_bootstrap, "replay", *group, "1")

    assert code == 0, err
    assert lines(out) == [f"replayed offset=0:1 type={STOCK} id={second.id} to={service.topic}"]
    assert await consume(service.a, 1) == ["handled"]
    assert await service.effects() == [(service.group_a, 2)]

    code, out, err = await dlq_cli(kafka_bootstrap, "list", *group)

    assert code == 0, err
    states = [line.split()[1] for line in lines(out)]
    assert states[0] == "state=pending"
    assert states[1].startswith("state=replayed@")

    code, out, err = await dlq_cli(kafka_bootstrap, "replay", *group, "--all")

    assert code == 0, err
    assert lines(out) == [f"replayed offset=0:0 type={STOCK} id={first.id} to={service.topic}"]
    assert await consume(service.a, 1) == ["handled"]
    assert sorted(await service.effects()) == [(service.group_a, 1), (service.group_a, 2)]

    code, out, err = await dlq_cli(kafka_bootstrap, "replay", *group, "--all")
    assert (code, lines(out)) == (0, [])
    assert "nothing to replay" in err

    code, out, err = await dlq_cli(kafka_bootstrap, "show", *group, "9")
    assert code == 1
    assert "9: no dead letter at this offset" in err


async def test_the_cli_says_when_kafka_cannot_be_reached(unique: str) -> None:
    code, _, err = await dlq_cli("127.0.0.1:9", "list", "--group", unique, "--timeout", "5")

    assert code == 3
    assert "Kafka unavailable" in err


async def test_dead_letter_depth_counts_letters_until_they_are_replayed(
    service: Service, bus: Bus
) -> None:
    await service.write(1)
    await service.write(2)
    assert await consume(service.a, 2) == ["dead_lettered", "dead_lettered"]
    watch = DeadLetterWatch(bus, service.group_a)
    try:

        async def depth_is(expected: int) -> bool:
            assert await watch.refresh() == expected
            sample = REGISTRY.get_sample_value(
                "emporium_dead_letter_depth", {"group": service.group_a}
            )
            assert sample == expected
            return True

        await eventually(lambda: depth_is(2), timeout=30)
        letters = await read_dead_letters(bus, f"{service.group_a}.dlq")
        service.broken = False
        await replay(bus, letters[:1], dlq_topic=f"{service.group_a}.dlq")
        await eventually(lambda: depth_is(1), timeout=30)
    finally:
        await watch.close()
