"""What can be stored (``Body``) and how it is read: in chunks, without blocking the loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import BinaryIO

__all__ = ["CHUNK_SIZE", "Body", "chunks"]

#: Bytes read at a time from a file or a path.
CHUNK_SIZE = 1024 * 1024

#: Data to store: bytes, an async iterable of bytes (an upload being received), a binary
#: file opened for reading (read from its current position), or the path of a file.
Body = bytes | bytearray | memoryview | AsyncIterable[bytes] | BinaryIO | os.PathLike[str]


async def chunks(body: Body, size: int = CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
    """The bytes of ``body`` as non-empty chunks (file reads run in a worker thread)."""
    if isinstance(body, bytes | bytearray | memoryview):
        if len(body):
            yield bytes(body)
    elif isinstance(body, os.PathLike):
        file = await asyncio.to_thread(open, os.fspath(body), "rb")
        try:
            async for chunk in _read(file, size):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)
    elif isinstance(body, AsyncIterable):
        async for chunk in body:
            if chunk:
                yield bytes(chunk)
    else:
        async for chunk in _read(body, size):
            yield chunk


async def _read(file: BinaryIO, size: int) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, size):
        yield chunk
