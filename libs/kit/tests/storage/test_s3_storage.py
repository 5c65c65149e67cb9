"""S3 specifics: failing fast and clearly, presigned downloads, multipart clean-up."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from emporium.kit.settings import StorageSettings
from emporium.kit.storage import (
    S3Storage,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
    make_storage,
)

NOWHERE = "http://127.0.0.1:1"  # nothing listens on port 1


async def test_a_store_that_is_down_raises_storage_unavailable(unique: str) -> None:
    down = S3Storage(unique, endpoint_url=NOWHERE, access_key_id="k", secret_access_key="s")
    async with down as storage:
        with pytest.raises(StorageUnavailable):
            await storage.ensure_bucket()
        with pytest.raises(StorageUnavailable):
            await storage.put("k", b"v")
        with pytest.raises(StorageUnavailable):
            await storage.get("k")
        with pytest.raises(StorageUnavailable):
            await storage.exists("k")
        assert not await storage.ping()


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [("nobody", "wrong-secret"), (None, "wrong-secret")],
    ids=["unknown-key", "wrong-secret"],
)
async def test_wrong_credentials_are_refused_clearly(
    s3_storage: S3Storage, key_id: str | None, secret: str
) -> None:
    await s3_storage.put("private.txt", b"secret")
    async with S3Storage(
        s3_storage.bucket,
        endpoint_url=s3_storage.endpoint_url,
        access_key_id=key_id or os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=secret,
    ) as intruder:
        with pytest.raises(StorageAccessDenied, match=s3_storage.bucket):
            await intruder.get("private.txt")
        with pytest.raises(StorageAccessDenied):
            await intruder.put("private.txt", b"overwritten")
        with pytest.raises(StorageAccessDenied):
            await intruder.ensure_bucket()
        assert not await intruder.ping()
    assert (await s3_storage.get("private.txt")).data == b"secret"


async def test_a_presigned_url_downloads_the_object(s3_storage: S3Storage) -> None:
    await s3_storage.put(
        "media/photo.png", b"\x89PNG...", content_type="image/png", cache_control="max-age=60"
    )
    url = await s3_storage.url_for("media/photo.png", expires=300)
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200
    assert answer.content == b"\x89PNG..."
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["cache-control"] == "max-age=60"


async def test_an_unsigned_url_is_refused(s3_storage: S3Storage) -> None:
    await s3_storage.put("private.txt", b"secret")
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/private.txt")
    assert answer.status_code == 403


async def test_a_failed_multipart_upload_leaves_no_parts_behind(s3_storage: S3Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield bytes(9 * 1024 * 1024)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await s3_storage.put("big.bin", broken())
    uploads = await s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket)
    assert uploads.get("Uploads", []) == []


async def test_a_missing_bucket_says_to_create_it(s3_endpoint: str, unique: str) -> None:
    async with S3Storage(unique, endpoint_url=s3_endpoint) as storage:
        with pytest.raises(StorageError, match="ensure_bucket"):
            await storage.get("k")
        assert not await storage.ping()


async def test_ensure_bucket_is_idempotent(s3_storage: S3Storage) -> None:
    await s3_storage.put("k", b"v")
    await s3_storage.ensure_bucket()
    assert (await s3_storage.get("k")).data == b"v"


async def test_processes_starting_together_all_get_the_bucket(
    s3_endpoint: str, unique: str
) -> None:
    storages = [S3Storage(unique, endpoint_url=s3_endpoint) for _ in range(5)]
    for storage in storages:
        await storage.start()
    try:
        await asyncio.gather(*(storage.ensure_bucket() for storage in storages))
        assert all([await storage.ping() for storage in storages])
        await storages[0].client.delete_bucket(Bucket=unique)
    finally:
        for storage in storages:
            await storage.close()


async def test_without_any_credentials_access_is_denied_clearly(
    unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    async with S3Storage(unique, endpoint_url=NOWHERE) as storage:
        with pytest.raises(StorageAccessDenied, match="credentials"):
            await storage.get("k")


async def test_a_storage_not_started_says_so(unique: str) -> None:
    storage = S3Storage(unique, endpoint_url=NOWHERE)
    with pytest.raises(RuntimeError, match="start"):
        await storage.get("k")


async def test_settings_pick_s3_with_their_credentials(s3_endpoint: str, unique: str) -> None:
    settings = StorageSettings(
        storage="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=unique,
        s3_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        s3_secret_access_key=SecretStr(os.environ["AWS_SECRET_ACCESS_KEY"]),
    )
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    async with storage:
        await storage.ensure_bucket()
        await storage.put("k", b"v")
        assert (await storage.get("k")).data == b"v"
        await storage.delete("k")
        await storage.client.delete_bucket(Bucket=unique)
