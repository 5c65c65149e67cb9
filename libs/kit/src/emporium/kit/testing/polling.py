"""Wait for asynchronous effects by polling with a deadline, never by sleeping blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Call ``probe`` until it returns a truthy value (returned) or ``timeout`` passes.

    An ``AssertionError`` raised by the probe counts as "not yet"; the last one is re-raised
    at the deadline so the failure says what was wrong.
    """
    deadline = time.monotonic() + timeout
    last_error: AssertionError | None = None
    while True:
        try:
            value = await probe()
            if value:
                return value
        except AssertionError as error:
            last_error = error
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise last_error
            raise AssertionError(f"{message} within {timeout}s")
        await asyncio.sleep(interval)
