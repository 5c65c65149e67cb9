"""``topic_prefix``: two platforms on one broker, with the same service and group names,
never see each other's events, dead letters or consumer groups (both stacks).

Platform ``a`` publishes through its outbox and relay and consumes; platform ``b`` runs the
same consumer group name and joins first. Every topic has one partition: sharing topics
and group, ``b`` would hold the partition and take ``a``'s event (or ``a`` would take
``b``'s).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import StockChanged
from emporium.kit.app import Resources
from emporium.kit.bus import Bus, Delivery, Record, Subscription
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.bus.prefixed import PrefixedBus, with_topic_prefix
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.dlq import read_dead_letters, replay
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.events import Envelope, wrap
from emporium.kit.health import Probes
from emporium.kit.outbox import Outbox
from emporium.kit.relay import OutboxRelay
from emporium.kit.settings import MAX_TOPIC_PREFIX_LENGTH, BusSettings, ServiceSettings
from emporium.kit.testing import eventually
from emporium.kit.workers import Worker

TOPIC = "notes.events"
STOCK = StockChanged.type_name()


class Settings(ServiceSettings, BusSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_PREFIX_TEST_", extra="ignore")


def stock(on_hand: int) -> StockChanged:
    return StockChanged(product_id=uuid.uuid4(), on_hand=on_hand, reserved=0, available=on_hand)


class Platform:
    """One service of one platform: ``event_workers`` with a prefix, driven by hand."""

    def __init__(self, database: Database, bus: Bus, prefix: str, *, publishes: bool) -> None:
        self.prefix = prefix
        self.handled: list[int] = []
        self.poison: set[int] = set()
        self.outbox = Outbox("svc")
        settings = Settings(service_name="svc", topic_prefix=prefix, handler_backoff_seconds=0)
        resources = Resources(settings=settings, probes=Probes(), database=database, bus=bus)
        subscription = EventSubscription("notes", (TOPIC,), {STOCK: self._handle})
        workers: Sequence[Worker] = event_workers(
            self.outbox if publishes else None, [subscription]
        )(resources)
        self.relay = next((w for w in workers if isinstance(w, OutboxRelay)), None)
        [self.consumer] = [w for w in workers if isinstance(w, EventConsumer)]
        self.consumer.max_attempts = 1
        self.database = database

    async def _handle(self, session: AsyncSession, envelope: Envelope) -> None:
        on_hand = int(envelope.data["on_hand"])
        if on_hand in self.poison:
            raise LookupError(f"poison {on_hand}")
        self.handled.append(on_hand)

    async def write(self, on_hand: int) -> None:
        """An event through the outbox and the relay, as a service publishes one."""
        assert self.relay is not None
        async with self.database.session() as session:
            data = stock(on_hand)
            await self.outbox.add(session, data, key=data.product_id, topic=TOPIC)
        assert await self.relay.run_once() == 1

    async def consume_until(self, on_hand: int) -> list[str]:
        outcomes: list[str] = []

        async def probe() -> bool:
            outcomes.extend(await self.consumer.run_once(timeout=0.2))
            assert on_hand in self.handled or outcomes.count("dead_lettered"), outcomes
            return True

        await eventually(probe, timeout=60)
        return outcomes


async def read_all(subscription: Subscription, count: int) -> list[Delivery]:
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.2))
        assert len(received) >= count
        return True

    await eventually(probe, timeout=60)
    return received


async def test_two_prefixes_on_one_broker_never_see_each_others_events(
    database: Database, bus: Bus, unique: str
) -> None:
    a_prefix, b_prefix = f"a{unique}.", f"b{unique}."
    for prefix in (a_prefix, b_prefix):
        await bus.ensure_topics([prefix + TOPIC], partitions=1)
    a = Platform(database, bus, a_prefix, publishes=True)
    b = Platform(database, bus, b_prefix, publishes=False)
    tap = bus.subscribe([a_prefix + TOPIC], f"{unique}-tap")
    await tap.start()
    try:
        # b's member joins first: sharing a's topic and group, it would take a's partition.
        assert await b.consumer.run_once(timeout=0.2) == []
        await a.write(1)
        assert await a.consume_until(1) == ["handled"]

        # b's own event, published after a's: b handles it and nothing else.
        own = wrap(stock(2), source="svc", key=uuid.uuid4())
        await with_topic_prefix(bus, b_prefix).publish(
            [Record(TOPIC, own.to_bytes(), own.key.encode(), tuple(own.headers()))]
        )
        await b.consume_until(2)
        assert b.handled == [2]
        assert a.handled == [1]

        # On the broker the records sit under the prefix, with the contract's name after it.
        [on_broker] = await read_all(tap, 1)
        assert on_broker.topic == a_prefix + TOPIC
        assert Envelope.from_bytes(on_broker.value).data["on_hand"] == 1
    finally:
        await tap.stop()
        await a.consumer.close()
        await b.consumer.close()


async def test_dead_letters_go_to_the_prefixed_topic_and_replay_into_the_namespace(
    database: Database, bus: Bus, unique: str
) -> None:
    prefix = f"d{unique}."
    await bus.ensure_topics([prefix + TOPIC], partitions=1)
    service = Platform(database, bus, prefix, publishes=True)
    service.poison.add(7)
    try:
        await service.write(7)
        assert await service.consume_until(7) == ["dead_lettered"]

        # The group's dead-letter topic on the broker carries the prefix; the letter names
        # the topic and group as the service knows them.
        [letter] = await read_dead_letters(bus, f"{prefix}svc.notes.dlq")
        assert (letter.original_topic, letter.group) == (TOPIC, "svc.notes")
        assert await read_dead_letters(bus, "svc.notes.dlq") == []

        service.poison.clear()
        namespaced = with_topic_prefix(bus, prefix)
        [again] = await read_dead_letters(namespaced, "svc.notes.dlq")
        assert await replay(namespaced, [again], dlq_topic="svc.notes.dlq") == 1
        assert await service.consume_until(7) == ["handled"]
        assert service.handled == [7]
    finally:
        await service.consumer.close()


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
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["postgres-kafka"], indirect=True)
async def test_the_dlq_cli_lists_and_replays_in_the_services_namespace(
    database: Database, bus: Bus, unique: str, kafka_bootstrap: str
) -> None:
    prefix = f"c{unique}."
    await bus.ensure_topics([prefix + TOPIC], partitions=1)
    service = Platform(database, bus, prefix, publishes=True)
    service.poison.add(3)
    try:
        await service.write(3)
        assert await service.consume_until(3) == ["dead_lettered"]
        named = ["--group", "svc.notes", "--topic-prefix", prefix]

        code, out, err = await dlq_cli(kafka_bootstrap, "list", *named)
        assert code == 0, err
        [line] = out.splitlines()
        assert f"origin={TOPIC}/0@0 group=svc.notes" in line
        code, out, err = await dlq_cli(kafka_bootstrap, "list", "--group", "svc.notes")
        assert (code, out) == (0, "")

        service.poison.clear()
        code, out, err = await dlq_cli(kafka_bootstrap, "replay", *named, "--all")
        assert code == 0, err
        assert await service.consume_until(3) == ["handled"]
    finally:
        await service.consumer.close()


async def test_the_dlq_cli_refuses_a_prefix_kafka_cannot_take() -> None:
    code, _, err = await dlq_cli("127.0.0.1:9", "list", "--group", "g", "--topic-prefix", "a b")
    assert code == 2
    assert "--topic-prefix" in err


async def test_event_workers_use_the_bus_as_is_without_a_prefix(
    database: Database, bus: Bus
) -> None:
    service = Platform(database, bus, "", publishes=True)
    assert service.consumer.bus is bus
    assert service.relay is not None
    assert service.relay.bus is bus
    await service.consumer.close()


def test_prefixes_nest_and_an_empty_one_changes_nothing() -> None:
    inner = InMemoryBus()
    assert with_topic_prefix(inner, "") is inner
    nested = with_topic_prefix(with_topic_prefix(inner, "run1."), "tenant.")
    assert isinstance(nested, PrefixedBus)
    assert (nested.inner, nested.prefix) == (inner, "run1.tenant.")


def test_each_service_reads_its_own_topic_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_PREFIX_TEST_TOPIC_PREFIX", "t1a2b3c4.")
    settings = Settings()
    assert settings.topic_prefix == "t1a2b3c4."
    assert settings.topic("catalog.events") == "t1a2b3c4.catalog.events"
    assert Settings(topic_prefix="").topic("catalog.events") == "catalog.events"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("run 1.", "' '"),
        ("tests/", "'/'"),
        ("étape.", "'é'"),
        ("x" * (MAX_TOPIC_PREFIX_LENGTH + 1), f"more than {MAX_TOPIC_PREFIX_LENGTH}"),
    ],
)
def test_a_prefix_kafka_cannot_take_stops_the_service_at_start(value: str, says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(topic_prefix=value)
    message = str(raised.value)
    assert "topic_prefix" in message
    assert says in message


@pytest.mark.parametrize("value", ["t1a2b3c4.", "ci-run_7.", "X" * MAX_TOPIC_PREFIX_LENGTH])
def test_kafka_topic_characters_are_accepted(value: str) -> None:
    assert Settings(topic_prefix=value).topic_prefix == value
