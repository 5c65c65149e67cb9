"""How many images one process decodes at once (each may hold ~150 MB while it does).

One semaphore per event loop (a process serves from one loop; tests start several), sized
by the first caller: ``CATALOG_IMAGE_MAX_CONCURRENT``. Uploads past it wait their turn
instead of adding their decoded pixels to the process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary

__all__ = ["MMAP_THRESHOLD", "image_work_slot", "return_freed_pixels_to_the_os"]

log = logging.getLogger(__name__)

#: Allocations from this size up get their own mapping, unmapped again when freed.
MMAP_THRESHOLD = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_tuned = False


def return_freed_pixels_to_the_os() -> bool:
    """Make glibc give large freed blocks (Pillow's pixel buffers) back to the OS at once.

    glibc raises its mmap threshold each time a mapped block is freed, so after the first
    large image, later pixel buffers come from the heap and stay resident once freed (the
    process was measured keeping ~35 MiB more per big upload). A fixed threshold keeps every
    buffer of 1 MiB or more in a mapping of its own. Does nothing outside glibc.
    """
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
        _tuned = bool(mallopt is not None and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except OSError:
        _tuned = False
    if not _tuned:
        log.info("could not fix the malloc mmap threshold; freed image memory may stay resident")
    return _tuned


_slots: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


@contextlib.asynccontextmanager
async def image_work_slot(limit: int) -> AsyncIterator[None]:
    """Hold one of ``limit`` image-work slots of this process while the block runs."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        return_freed_pixels_to_the_os()
        slots = _slots[loop] = asyncio.Semaphore(limit)
    async with slots:
        yield
