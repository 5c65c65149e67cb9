"""A background loop as a kit ``Worker``: ``tick`` until stopped, pausing when idle.

The pause ends early on ``wake()`` (work was committed that is due now), so the interval is
only the fallback for a wake-up that never came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

__all__ = ["PeriodicWorker"]

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Calls ``tick`` again at once while it reports work done, else after ``interval``."""

    def __init__(self, name: str, interval: float) -> None:
        self._name = name
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_tick = time.monotonic()

    @property
    def name(self) -> str:
        return self._name

    def wake(self) -> None:
        """Run the next round now instead of after the idle ``interval``."""
        self._wake.set()

    async def tick(self) -> bool:
        """One round; True when it did something (then the next round follows at once)."""
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def health(self) -> str | None:
        if self._task is None:
            return "not started"
        if self._task.done():
            return "loop ended"
        return None

    async def _run(self) -> None:
        while not self._stop.is_set():
            # Cleared before the round: a wake-up during it makes the next one follow at once.
            self._wake.clear()
            busy = False
            try:
                busy = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be away for a moment: log, wait, try again.
                log.exception("%s: round failed; retrying", self._name)
            self._last_tick = time.monotonic()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
