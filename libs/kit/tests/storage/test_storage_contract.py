"""What every object store does, in a local folder and on real S3 alike."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.kit.storage import InvalidKey, ObjectNotFound, ObjectStorage


async def test_an_object_comes_back_with_its_content_type_and_cache_control(
    storage: ObjectStorage,
) -> None:
    data = bytes(range(256)) * 100
    await storage.put(
        "products/p1/main.webp",
        data,
        content_type="image/webp",
        cache_control="public, max-age=31536000, immutable",
    )

    stored = await storage.get("products/p1/main.webp")

    assert stored.data == data
    assert stored.size == len(data)
    assert stored.content_type == "image/webp"
    assert stored.cache_control == "public, max-age=31536000, immutable"
    assert stored.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert stored.last_modified is not None
    info = await storage.head("products/p1/main.webp")
    assert (info.size, info.content_type, info.etag, info.cache_control) == (
        len(data),
        "image/webp",
        stored.etag,
        "public, max-age=31536000, immutable",
    )


async def test_without_a_content_type_it_is_guessed_from_the_extension(
    storage: ObjectStorage,
) -> None:
    await storage.put("a/photo.jpg", b"jpeg")
    await storage.put("a/blob", b"bytes")
    assert (await storage.head("a/photo.jpg")).content_type == "image/jpeg"
    assert (await storage.head("a/blob")).content_type == "application/octet-stream"
    assert (await storage.head("a/blob")).cache_control is None


async def test_putting_again_replaces_the_object(storage: ObjectStorage) -> None:
    await storage.put("k.txt", b"one", content_type="text/plain", cache_control="no-cache")
    await storage.put("k.txt", b"two", content_type="text/markdown")
    stored = await storage.get("k.txt")
    assert (stored.data, stored.content_type, stored.cache_control) == (
        b"two",
        "text/markdown",
        None,
    )


async def test_a_missing_key_is_not_found_everywhere(storage: ObjectStorage) -> None:
    assert not await storage.exists("nope.png")
    with pytest.raises(ObjectNotFound) as raised:
        await storage.get("nope.png")
    assert raised.value.key == "nope.png"
    with pytest.raises(ObjectNotFound):
        await storage.head("nope.png")
    with pytest.raises(ObjectNotFound):
        await storage.stream("nope.png")


async def test_delete_removes_the_object_and_tolerates_missing_ones(
    storage: ObjectStorage,
) -> None:
    await storage.put("gone.bin", b"x")
    assert await storage.exists("gone.bin")
    await storage.delete("gone.bin")
    assert not await storage.exists("gone.bin")
    await storage.delete("gone.bin")
    await storage.delete("never/was.bin")


async def parts(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_an_async_stream_a_file_and_a_path_can_be_stored(
    storage: ObjectStorage, tmp_path: Path
) -> None:
    await storage.put("from/stream", parts(b"ab", b"", b"cd"))
    await storage.put("from/file", io.BytesIO(b"file bytes"))
    source = tmp_path / "upload.png"
    source.write_bytes(b"path bytes")
    await storage.put("from/path.png", source)

    assert (await storage.get("from/stream")).data == b"abcd"
    assert (await storage.get("from/file")).data == b"file bytes"
    stored = await storage.get("from/path.png")
    assert (stored.data, stored.content_type) == (b"path bytes", "image/png")


async def test_a_large_stream_is_stored_whole(storage: ObjectStorage) -> None:
    # 11 MiB in 1 MiB chunks: on S3 more than one part of a multipart upload.
    chunks = [bytes([i]) * (1024 * 1024) for i in range(11)]
    await storage.put("big.bin", parts(*chunks), content_type="application/x-test")
    stored = await storage.get("big.bin")
    assert stored.data == b"".join(chunks)
    assert stored.content_type == "application/x-test"
    assert [k async for k in storage.keys()] == ["big.bin"]


@pytest.mark.parametrize("sent", [100, 9 * 1024 * 1024], ids=["small", "multipart"])
async def test_a_failed_upload_leaves_the_previous_object(
    storage: ObjectStorage, sent: int
) -> None:
    await storage.put("doc.txt", b"version 1")

    async def broken() -> AsyncIterator[bytes]:
        yield bytes(sent)  # on S3, 9 MiB starts a multipart upload (8 MiB parts)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put("doc.txt", broken())
    assert (await storage.get("doc.txt")).data == b"version 1"
    assert [k async for k in storage.keys()] == ["doc.txt"]


async def test_an_object_can_be_read_in_chunks(storage: ObjectStorage) -> None:
    data = bytes(range(256)) * 1000
    await storage.put("chunks.bin", data, content_type="application/x-test")

    async with await storage.stream("chunks.bin", chunk_size=10_000) as stream:
        assert stream.info.size == len(data)
        assert stream.info.content_type == "application/x-test"
        received = [chunk async for chunk in stream]
    assert b"".join(received) == data
    assert len(received) > 1

    async with await storage.stream("chunks.bin", chunk_size=10) as stream:
        async for _ in stream:
            break  # closing a stream read halfway is fine
    unread = await storage.stream("chunks.bin")
    await unread.aclose()  # and so is closing one never read
    async with await storage.stream("chunks.bin") as stream:
        assert await stream.read() == data


async def test_keys_lists_by_prefix_in_order(storage: ObjectStorage) -> None:
    for key in ("p/2/b.jpg", "p/1/a.jpg", "p/10/c.jpg", "q/d.jpg", "p.txt"):
        await storage.put(key, b"x")
    assert [k async for k in storage.keys("p/")] == ["p/1/a.jpg", "p/10/c.jpg", "p/2/b.jpg"]
    assert [k async for k in storage.keys("p/1")] == ["p/1/a.jpg", "p/10/c.jpg"]
    assert len([k async for k in storage.keys()]) == 5


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../escape", "a/../../escape", "a//b", "a/./b", "a/", "a\\b", "a\x00b"],
)
async def test_unsafe_keys_are_refused(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await storage.put(key, b"x")
    with pytest.raises(InvalidKey):
        await storage.get(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    with pytest.raises(InvalidKey):
        await storage.url_for(key)
    assert [k async for k in storage.keys()] == []


async def test_ping_answers_when_the_store_is_there(storage: ObjectStorage) -> None:
    assert await storage.ping()
