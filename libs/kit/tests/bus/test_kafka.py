"""What only the Kafka bus has: safe client settings, failing fast, recovering after an outage."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from emporium.kit.bus import BusUnavailable, Delivery, Record
from emporium.kit.bus.kafka import KafkaBus, KafkaSubscription
from emporium.kit.testing import eventually

ROOT = Path(__file__).resolve().parents[4]
INFRA = ROOT / "deploy" / "local" / "infra.sh"


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_the_producer_is_idempotent_and_waits_for_all_replicas() -> None:
    bus = KafkaBus("127.0.0.1:9", request_timeout=3.0)
    producer = bus._new_producer()  # created, not connected
    try:
        assert isinstance(producer, AIOKafkaProducer)
        assert producer._sender._acks == -1  # acks=all
        assert producer._txn_manager is not None  # idempotence on
        assert producer._request_timeout_ms == 3000
    finally:
        await producer.stop()


async def test_consumers_commit_by_hand_and_start_at_the_earliest_offset() -> None:
    bus = KafkaBus("127.0.0.1:9")
    subscription = bus.subscribe(["t"], "g")
    assert isinstance(subscription, KafkaSubscription)
    consumer = subscription._new_consumer()  # created, not connected
    try:
        assert isinstance(consumer, AIOKafkaConsumer)
        assert consumer._enable_auto_commit is False
        assert consumer._group_id == "g"
        assert consumer._fetcher is None  # not started
        assert consumer._auto_offset_reset == "earliest"
    finally:
        await consumer.stop()


async def test_an_unreachable_broker_fails_fast_with_bus_unavailable(closed_port: int) -> None:
    bus = KafkaBus(f"127.0.0.1:{closed_port}", request_timeout=2.0)
    await bus.start()  # logs, does not raise: the bus reconnects by itself later
    try:
        async with asyncio.timeout(30):  # a hang would fail here
            with pytest.raises(BusUnavailable):
                await bus.publish([Record(topic="t", value=b"x")])
            with pytest.raises(BusUnavailable):
                await bus.ping()
            with pytest.raises(BusUnavailable):
                await bus.ensure_topics(["t"])
            with pytest.raises(BusUnavailable):
                await bus.subscribe(["t"], "g").start()
    finally:
        await bus.stop()


def infra(command: str) -> None:
    subprocess.run(["bash", str(INFRA), command, "kafka"], check=True, timeout=300)


@pytest.fixture
def kafka_outage(kafka_bootstrap: str) -> Iterator[None]:
    """Lets the test stop the broker; it is started again whatever happens."""
    if not INFRA.exists():
        pytest.fail(f"{INFRA} is missing: the test cannot stop and start Kafka")
    try:
        yield
    finally:
        infra("up")


@pytest.mark.integration
@pytest.mark.kafka_restart
async def test_publishing_fails_while_kafka_is_down_and_recovers_after(
    kafka_bootstrap: str, kafka_outage: None, unique: str
) -> None:
    bus = KafkaBus(kafka_bootstrap, client_id="emporium-tests", request_timeout=5.0)
    await bus.start()
    try:
        await bus.ensure_topics([unique])
        subscription = bus.subscribe([unique], f"{unique}-g")
        await subscription.start()
        await bus.publish([Record(topic=unique, value=b"before", key=b"k")])

        await asyncio.to_thread(infra, "down")
        async with asyncio.timeout(30):  # a hang would fail here
            with pytest.raises(BusUnavailable):
                await bus.publish([Record(topic=unique, value=b"during", key=b"k")])
            with pytest.raises(BusUnavailable):
                await bus.ping()

        await asyncio.to_thread(infra, "up")

        async def published() -> bool:
            try:
                await bus.publish([Record(topic=unique, value=b"after", key=b"k")])
            except BusUnavailable as error:
                raise AssertionError(f"still unavailable: {error}") from error
            return True

        await eventually(published, timeout=120, interval=1.0)
        await bus.ping()

        received: list[bytes] = []

        async def both_arrived() -> bool:
            received.extend(d.value for d in await subscription.poll(timeout=0.5))
            assert {b"before", b"after"} <= set(received), f"received {received}"
            return True

        await eventually(both_arrived, timeout=120)
    finally:
        await bus.stop()


@pytest.mark.integration
async def test_a_keys_records_land_where_send_puts_them_in_order(
    kafka_bootstrap: str, unique: str
) -> None:
    """publish queues one produce batch per partition (more when one is full): each key's
    records go to the partition aiokafka's ``send`` picks for that key, in publish order."""
    bus = KafkaBus(kafka_bootstrap, client_id="emporium-tests", request_timeout=10.0)
    await bus.start()
    reference = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await reference.start()
    keys = [f"key-{n}".encode() for n in range(20)]
    try:
        await bus.ensure_topics([unique, f"{unique}-ref"], partitions=3)
        expected: dict[bytes, int] = {}
        for key in keys:
            sent = await reference.send_and_wait(f"{unique}-ref", b"", key=key)
            expected[key] = sent.partition
        # 8 KiB values: about 800 KiB a partition, over one produce batch (512 KiB).
        padding = b"x" * 8192
        records = [
            Record(topic=unique, value=padding, key=keys[n % 20], headers=(("n", str(n).encode()),))
            for n in range(300)
        ]
        await bus.publish(records)
        subscription = bus.subscribe([unique], f"{unique}-g")
        await subscription.start()
        received: list[Delivery] = []

        async def all_arrived() -> bool:
            received.extend(await subscription.poll(max_records=500, timeout=0.5))
            assert len(received) >= 300, f"received {len(received)}"
            return True

        await eventually(all_arrived, timeout=60)
        await subscription.stop()
    finally:
        await reference.stop()
        await bus.stop()
    assert len(received) == 300
    by_key: dict[bytes, list[int]] = {}
    for delivery in received:
        assert delivery.key is not None
        assert delivery.partition == expected[delivery.key], "not the partition send picks"
        by_key.setdefault(delivery.key, []).append(int(delivery.header("n") or "-1"))
    assert by_key == {key: list(range(n, 300, 20)) for n, key in enumerate(keys)}


class _SwallowingConsumer:
    """A client whose ``stop()`` never ends and swallows every cancellation, as aiokafka's
    consumer did after a broker outage (its fetcher's tasks return on ``CancelledError``)."""

    def __init__(self) -> None:
        self.client = self
        self.cut = False
        self.released = False  # the test's own way out, so its event loop can end

    async def stop(self) -> None:
        while not self.released:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    async def close(self) -> None:  # the network client's close
        self.cut = True


async def test_closing_a_client_that_ignores_cancellation_is_still_bounded() -> None:
    bus = KafkaBus("127.0.0.1:9", request_timeout=3.0)
    client = _SwallowingConsumer()
    closing = asyncio.create_task(bus._close_quietly(client, grace=0.2))
    try:
        done, _ = await asyncio.wait({closing}, timeout=5)
        assert closing in done, "the close waited on the client past its grace"
        closing.result()
        assert client.cut  # its connections were cut instead
    finally:
        client.released = True
        for task in [closing, *bus._abandoned]:
            task.cancel()
        await asyncio.wait([closing, *bus._abandoned], timeout=1)
