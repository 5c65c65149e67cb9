"""Local-folder specifics: plain files under the root, and nothing outside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emporium.kit.settings import StorageSettings
from emporium.kit.storage import InvalidKey, LocalStorage, StorageError, make_storage


async def test_objects_are_plain_files_under_the_root(local_storage: LocalStorage) -> None:
    await local_storage.put("products/p1/main.jpg", b"jpeg bytes")
    assert (local_storage.root / "products" / "p1" / "main.jpg").read_bytes() == b"jpeg bytes"
    assert await local_storage.url_for("products/p1/main.jpg") == "/media/products/p1/main.jpg"


async def test_a_url_quotes_the_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, base_url="https://cdn.example/media/")
    assert await storage.url_for("a b/é.png") == "https://cdn.example/media/a%20b/%C3%A9.png"


@pytest.mark.parametrize(
    "key", ["../outside.txt", "a/../../outside.txt", "/tmp/outside.txt", ".meta/x", ".tmp/x"]
)
async def test_nothing_is_written_outside_the_objects(
    local_storage: LocalStorage, key: str
) -> None:
    before = sorted(local_storage.root.parent.rglob("*"))
    with pytest.raises(InvalidKey):
        await local_storage.put(key, b"x")
    assert sorted(local_storage.root.parent.rglob("*")) == before


async def test_a_file_put_there_by_hand_is_served(local_storage: LocalStorage) -> None:
    (local_storage.root / "docs").mkdir()
    (local_storage.root / "docs" / "terms.html").write_bytes(b"<h1>Terms</h1>")
    stored = await local_storage.get("docs/terms.html")
    assert (stored.data, stored.content_type, stored.cache_control) == (
        b"<h1>Terms</h1>",
        "text/html",
        None,
    )


async def test_metadata_lives_beside_the_objects_not_among_them(
    local_storage: LocalStorage,
) -> None:
    await local_storage.put("a/b.txt", b"x", content_type="text/plain", cache_control="no-store")
    sidecar = json.loads((local_storage.root / ".meta" / "a" / "b.txt.json").read_text())
    assert sidecar["content_type"] == "text/plain"
    assert sidecar["cache_control"] == "no-store"
    assert [k async for k in local_storage.keys()] == ["a/b.txt"]
    assert list((local_storage.root / ".tmp").iterdir()) == []  # no temporary file left


async def test_a_key_cannot_be_both_an_object_and_a_folder(local_storage: LocalStorage) -> None:
    await local_storage.put("a/b", b"object")
    with pytest.raises(StorageError, match="conflicts"):
        await local_storage.put("a/b/c", b"under it")
    with pytest.raises(StorageError, match="conflicts"):
        await local_storage.put("a", b"over it")
    assert (await local_storage.get("a/b")).data == b"object"


async def test_the_folder_is_created_on_first_use(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "not" / "yet")
    assert not await storage.ping()
    await storage.put("k", b"v")
    assert await storage.ping()
    assert (await storage.get("k")).data == b"v"


def test_settings_default_to_a_local_folder(tmp_path: Path) -> None:
    storage = make_storage(StorageSettings(media_dir=str(tmp_path)))
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path
