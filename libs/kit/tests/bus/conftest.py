"""The ``bus`` fixture: every contract test runs on the in-memory bus and on real Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emporium.kit.bus import Bus
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.memory import InMemoryBus


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """A started bus: the in-process one, then one on the real Kafka broker."""
    instance: Bus
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        instance = KafkaBus(bootstrap, client_id="emporium-tests", request_timeout=10.0)
    else:
        instance = InMemoryBus()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()
