"""Fixtures of the gateway tests (the helpers are in ``emporium.gateway.testing``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emporium.gateway.testing import GatewayFactory, Servers, gateway_factory


@pytest.fixture
async def gateway() -> AsyncIterator[GatewayFactory]:
    """Start gateways in front of fake upstreams: ``gw = await gateway(**settings)``."""
    async with gateway_factory() as start:
        yield start


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    """Real HTTP servers for fake upstream apps: ``url = await servers.start(app)``."""
    running = Servers()
    yield running
    await running.stop()
