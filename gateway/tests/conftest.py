"""Fixtures of the gateway tests (the helpers are in ``emporium.gateway.testing``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emporium.gateway.testing import GatewayFactory, gateway_factory


@pytest.fixture
async def gateway() -> AsyncIterator[GatewayFactory]:
    """Start gateways in front of fake upstreams: ``gw = await gateway(**settings)``."""
    async with gateway_factory() as start:
        yield start
