"""The object-storage contract both implementations keep (S3 and a local folder).

Keys are relative, ``/``-separated paths (``products/<id>/main.jpg``): no leading ``/``, no
empty, ``.`` or ``..`` segment, no backslash or control character, at most 1024 bytes.
Anything else raises ``InvalidKey`` on every implementation, so a key that works locally
works on S3 and cannot escape a local folder.

Errors: ``ObjectNotFound`` for a missing key, ``StorageUnavailable`` when the store does not
answer (fails within seconds), ``StorageAccessDenied`` for refused credentials.
"""

from __future__ import annotations

import abc
import mimetypes
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

from emporium.kit.storage.body import Body
from emporium.kit.storage.errors import InvalidKey, ObjectNotFound

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "ObjectInfo",
    "ObjectStorage",
    "ObjectStream",
    "StoredObject",
    "check_key",
    "check_prefix",
    "guess_content_type",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows about an object, without its bytes."""

    key: str
    size: int
    content_type: str
    etag: str | None = None
    cache_control: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object read whole: its bytes and what the store knows about it."""

    key: str
    data: bytes
    content_type: str
    etag: str | None = None
    cache_control: str | None = None
    last_modified: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.data)


class ObjectStream:
    """An object being read in chunks: ``info`` first, then ``async for chunk in stream``.

    Close it (``async with`` or ``aclose()``) if it is not read to the end, to give the
    connection or file back.
    """

    def __init__(
        self,
        info: ObjectInfo,
        chunks: AsyncGenerator[bytes, None],
        release: Callable[[], Awaitable[None]],
    ) -> None:
        self.info = info
        self._chunks = chunks
        self._release = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read(self) -> bytes:
        """The rest of the object."""
        return b"".join([chunk async for chunk in self._chunks])

    async def aclose(self) -> None:
        """Give the connection or file back (also when the stream was never read)."""
        try:
            await self._chunks.aclose()
        finally:
            await self._release()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class ObjectStorage(abc.ABC):
    """A store of objects (bytes with a content type) under keys.

    Use it as ``async with storage:`` or call ``start()`` at startup and ``close()`` at
    shutdown: one instance (one connection pool) per process.
    """

    async def start(self) -> None:
        """Open connections (nothing to do for stores without any)."""
        return None

    async def close(self) -> None:
        """Close connections."""
        return None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def ensure_bucket(self) -> None:
        """Create the bucket (folder) if it does not exist yet; idempotent."""

    @abc.abstractmethod
    async def put(
        self,
        key: str,
        data: Body,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> None:
        """Store ``data`` under ``key``, replacing any object there.

        ``content_type`` defaults to a guess from the key's extension, else
        ``application/octet-stream``; ``cache_control`` is kept and returned on reads (and
        sent by S3 as the ``Cache-Control`` header of presigned downloads). Readers see the
        old object or the new one, never a partial one.
        """

    @abc.abstractmethod
    async def get(self, key: str) -> StoredObject:
        """The whole object under ``key`` (``ObjectNotFound`` if none)."""

    @abc.abstractmethod
    async def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> ObjectStream:
        """The object under ``key`` in chunks; ``ObjectNotFound`` is raised here, up front."""

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo:
        """What is known about the object under ``key`` (``ObjectNotFound`` if none)."""

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; removing a missing object is fine."""

    @abc.abstractmethod
    def keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys that start with ``prefix``, in lexicographic order."""

    @abc.abstractmethod
    async def url_for(self, key: str, *, expires: int = 3600) -> str:
        """A URL a browser can fetch the object from (S3: presigned for ``expires`` s)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers and the bucket is there (never raises)."""


def check_key(key: str) -> str:
    """``key`` if it is a safe relative object key, else ``InvalidKey``."""
    if not key:
        raise InvalidKey("an object key cannot be empty")
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise InvalidKey(f"object key longer than {_MAX_KEY_BYTES} bytes")
    if key.startswith("/") or "\\" in key:
        raise InvalidKey(f"object key must be a relative path with '/' separators: {key!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidKey(f"object key contains a control character: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(f"object key has an empty, '.' or '..' segment: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it could start a valid key (it may end with ``/``, or be empty)."""
    if prefix:
        check_key(prefix.removesuffix("/") or "/")
    return prefix


def guess_content_type(key: str) -> str:
    """The content type of ``key`` by its extension, else ``application/octet-stream``."""
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE
