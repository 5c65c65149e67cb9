"""Choose the bus a service runs on from its settings."""

from __future__ import annotations

from emporium.kit.bus.base import Bus
from emporium.kit.settings import BusSettings

__all__ = ["make_bus"]


def make_bus(settings: BusSettings) -> Bus:
    """The bus ``settings.bus`` names: ``kafka`` or ``memory`` (a new, private in-memory bus).

    Not started: call ``start()`` (usually in the app's lifespan).
    """
    if settings.bus == "kafka":
        from emporium.kit.bus.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap_servers,
            client_id=settings.kafka_client_id,
            linger_ms=settings.kafka_linger_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            replication_factor=settings.kafka_replication_factor,
        )
    from emporium.kit.bus.memory import InMemoryBus

    return InMemoryBus()
