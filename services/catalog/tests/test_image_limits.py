"""At most N images are processed at once per process; freed pixels go back to the OS."""

from __future__ import annotations

import asyncio
import platform

import pytest

from emporium.catalog.media.limits import image_work_slot, return_freed_pixels_to_the_os


@pytest.mark.parametrize(("limit", "uploads"), [(1, 3), (2, 5), (3, 3)])
async def test_no_more_than_the_limit_run_at_once(limit: int, uploads: int) -> None:
    running, most = 0, 0
    release = asyncio.Event()
    entered: asyncio.Queue[None] = asyncio.Queue()

    async def upload() -> None:
        nonlocal running, most
        async with image_work_slot(limit):
            running += 1
            most = max(most, running)
            entered.put_nowait(None)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(upload()) for _ in range(uploads)]
    for _ in range(min(limit, uploads)):
        await entered.get()
    await asyncio.sleep(0)  # give any task over the limit its chance to get in (it must not)
    assert running == min(limit, uploads)
    release.set()
    await asyncio.gather(*tasks)

    assert most == min(limit, uploads)


async def test_a_waiting_upload_gets_a_slot_when_one_is_freed() -> None:
    first_in, done = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with image_work_slot(1):
            first_in.set()
            await done.wait()

    task = asyncio.create_task(first())
    await first_in.wait()
    second = asyncio.create_task(_enter_once())
    await asyncio.sleep(0)
    assert not second.done()
    done.set()
    await asyncio.gather(task, second)


async def _enter_once() -> None:
    async with image_work_slot(1):
        return None


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_the_mmap_threshold_is_fixed_on_glibc() -> None:
    assert return_freed_pixels_to_the_os() is True
