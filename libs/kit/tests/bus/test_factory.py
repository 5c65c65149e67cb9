"""``make_bus`` picks the implementation the settings name."""

from __future__ import annotations

from emporium.kit.bus.factory import make_bus
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.settings import BusSettings


def test_memory_is_the_default() -> None:
    assert isinstance(make_bus(BusSettings()), InMemoryBus)


def test_each_memory_bus_is_private() -> None:
    first, second = make_bus(BusSettings(bus="memory")), make_bus(BusSettings(bus="memory"))
    assert isinstance(first, InMemoryBus)
    assert isinstance(second, InMemoryBus)
    assert first.broker is not second.broker


def test_kafka_takes_its_settings() -> None:
    settings = BusSettings(
        bus="kafka",
        kafka_bootstrap_servers="broker-1:9092,broker-2:9092",
        kafka_client_id="catalog",
        kafka_linger_ms=20,
    )

    bus = make_bus(settings)

    assert isinstance(bus, KafkaBus)
    assert bus.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert bus.client_id == "catalog"
    assert bus.linger_ms == 20
