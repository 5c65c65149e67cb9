"""Fixtures of the catalog tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.catalog.testing import Catalog, running_catalog


@pytest.fixture
async def catalog(database_url: str, tmp_path: Path) -> AsyncIterator[Catalog]:
    """The catalog on SQLite and on PostgreSQL (memory bus, memory cache, local media)."""
    async with running_catalog(database_url, tmp_path / "media") as running:
        yield running
