"""Fixtures of the storage tests: the same behaviour tests run on every implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.kit.storage import LocalStorage, ObjectStorage, S3Storage


@pytest.fixture
async def s3_storage(s3_endpoint: str, unique: str) -> AsyncIterator[S3Storage]:
    """A bucket of its own on the real S3 server (credentials from AWS_* variables),
    emptied and removed after the test."""
    storage = S3Storage(unique, endpoint_url=s3_endpoint)
    await storage.start()
    await storage.ensure_bucket()
    yield storage
    async for key in storage.keys():
        await storage.delete(key)
    await storage.client.delete_bucket(Bucket=unique)
    await storage.close()


@pytest.fixture
async def local_storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    """A folder of its own."""
    async with LocalStorage(tmp_path / "media") as storage:
        await storage.ensure_bucket()
        yield storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> ObjectStorage:
    """The local folder and real S3 alike."""
    made: ObjectStorage = request.getfixturevalue(f"{request.param}_storage")
    return made
