"""How many images one process decodes at once (each may hold ~150 MB while it does).

One semaphore per event loop (a process serves from one loop; tests start several), sized
by the first caller: ``CATALOG_IMAGE_MAX_CONCURRENT``. Uploads past it wait their turn
instead of adding their decoded pixels to the process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary

__all__ = ["image_work_slot"]

_slots: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


@contextlib.asynccontextmanager
async def image_work_slot(limit: int) -> AsyncIterator[None]:
    """Hold one of ``limit`` image-work slots of this process while the block runs."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(limit)
    async with slots:
        yield
