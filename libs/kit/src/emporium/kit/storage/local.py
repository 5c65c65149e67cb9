"""Object storage in a local folder: the embedded default, and handy in development.

Layout under ``root``: the object ``a/b.jpg`` is the file ``root/a/b.jpg`` (so the folder
can be served as static files), and what S3 would keep as object metadata (content type,
cache control, ETag) is a JSON sidecar ``root/.meta/a/b.jpg.json``. Writes go to a temporary
file in ``root/.tmp`` that is then renamed over the target, so readers never see a partial
object. The first segments ``.meta`` and ``.tmp`` are reserved.

Unlike S3, a key cannot be both an object and a "folder" of other keys (``a`` and ``a/b``):
storing the second raises ``StorageError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO, ParamSpec, TypeVar
from urllib.parse import quote

from emporium.kit.storage.base import (
    ObjectInfo,
    ObjectStorage,
    ObjectStream,
    StoredObject,
    check_key,
    check_prefix,
    guess_content_type,
)
from emporium.kit.storage.body import Body, chunks
from emporium.kit.storage.errors import (
    InvalidKey,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

__all__ = ["LocalStorage"]

_META = ".meta"
_TMP = ".tmp"
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)

P = ParamSpec("P")
T = TypeVar("T")


class LocalStorage(ObjectStorage):
    """Objects as files under ``root``; ``url_for`` gives ``<base_url>/<key>``."""

    def __init__(self, root: str | os.PathLike[str], *, base_url: str = "/media") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        # One writer per key at a time in this process, so data and sidecar stay paired.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure_bucket(self) -> None:
        await _io(self.root.mkdir, parents=True, exist_ok=True)

    async def put(
        self,
        key: str,
        data: Body,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> None:
        path = self._path(key)
        tmp_dir = self.root / _TMP
        await _io(tmp_dir.mkdir, parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        digest = hashlib.md5(usedforsecurity=False)  # the ETag S3 gives a simple upload
        size = 0
        try:
            file = await _io(tmp.open, "wb")
            try:
                async with contextlib.aclosing(chunks(data)) as source:
                    async for chunk in source:
                        digest.update(chunk)
                        size += len(chunk)
                        await _io(file.write, chunk)
            finally:
                await _io(file.close)
            meta = {
                "content_type": content_type or guess_content_type(key),
                "cache_control": cache_control,
                "etag": digest.hexdigest(),
                "size": size,
            }
            async with self._lock(key):
                await _io(self._commit, tmp, path, self._meta_path(key), meta)
        finally:
            await _io(tmp.unlink, missing_ok=True)

    async def get(self, key: str) -> StoredObject:
        path = self._path(key)
        try:
            data = await _io(path.read_bytes)
        except _MISSING:
            raise ObjectNotFound(key) from None
        info = await self._info(key, path)
        return StoredObject(
            key=key,
            data=data,
            content_type=info.content_type,
            etag=info.etag,
            cache_control=info.cache_control,
            last_modified=info.last_modified,
        )

    async def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> ObjectStream:
        path = self._path(key)
        try:
            file = await _io(path.open, "rb")
        except _MISSING:
            raise ObjectNotFound(key) from None
        try:
            info = await self._info(key, path)
        except BaseException:
            await _io(file.close)
            raise
        return ObjectStream(info, _read(file, chunk_size), lambda: _io(file.close))

    async def head(self, key: str) -> ObjectInfo:
        return await self._info(key, self._path(key))

    async def delete(self, key: str) -> None:
        path = self._path(key)
        async with self._lock(key):
            for target in (path, self._meta_path(key)):
                try:
                    await _io(target.unlink)
                except _MISSING:
                    pass

    async def keys(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        for key in await _io(self._walk, prefix):
            yield key

    async def url_for(self, key: str, *, expires: int = 3600) -> str:
        self._path(key)
        return f"{self.base_url}/{quote(key)}"

    async def ping(self) -> bool:
        return await asyncio.to_thread(
            lambda: self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)
        )

    # -- helpers ----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] in (_META, _TMP):
            raise InvalidKey(f"object keys cannot start with {_META!r} or {_TMP!r}: {key!r}")
        return self.root.joinpath(*key.split("/"))

    def _meta_path(self, key: str) -> Path:
        parts = key.split("/")
        return self.root.joinpath(_META, *parts[:-1], f"{parts[-1]}.json")

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _info(self, key: str, path: Path) -> ObjectInfo:
        try:
            stat = await _io(path.stat)
        except _MISSING:
            raise ObjectNotFound(key) from None
        if not S_ISREG(stat.st_mode):
            raise ObjectNotFound(key)
        meta: dict[str, Any] = {}
        try:
            meta = json.loads(await _io(self._meta_path(key).read_bytes))
        except _MISSING:
            pass  # a file put there by hand: derive what we can
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            content_type=meta.get("content_type") or guess_content_type(key),
            etag=meta.get("etag"),
            cache_control=meta.get("cache_control"),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def _commit(self, tmp: Path, path: Path, meta_path: Path, meta: dict[str, Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as error:
            raise StorageError(
                f"{path.relative_to(self.root).as_posix()!r} conflicts with an existing key "
                "(a local key cannot be both an object and a folder of objects)"
            ) from error
        meta_tmp = tmp.with_suffix(".json")
        meta_tmp.write_text(json.dumps(meta))
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(meta_tmp, meta_path)

    def _walk(self, prefix: str) -> list[str]:
        found: list[str] = []
        for folder, dirs, files in os.walk(self.root):
            relative = Path(folder).relative_to(self.root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            if not base:
                dirs[:] = [d for d in dirs if d not in (_META, _TMP)]
            # Only descend where keys with the prefix can be.
            dirs[:] = [d for d in dirs if _may_hold(f"{base}{d}/", prefix)]
            found.extend(f"{base}{name}" for name in files if f"{base}{name}".startswith(prefix))
        return sorted(found)


def _may_hold(folder: str, prefix: str) -> bool:
    return folder.startswith(prefix) or prefix.startswith(folder)


async def _read(file: BinaryIO, size: int) -> AsyncGenerator[bytes, None]:
    try:
        while chunk := await _io(file.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(file.close)


async def _io(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking file I/O in a worker thread; a failing disk is ``StorageUnavailable``."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except (*_MISSING, StorageError):
        raise
    except PermissionError as error:
        raise StorageAccessDenied(str(error)) from error
    except OSError as error:
        raise StorageUnavailable(str(error)) from error
