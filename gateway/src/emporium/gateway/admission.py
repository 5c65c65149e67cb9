"""Admission to an upstream's connection pool: a bounded, fair (FIFO) queue of calls.

At most ``limit`` calls hold a connection of the pool at once. A call that finds every slot
taken waits in line, at most ``wait_seconds``, behind at most ``max_waiting`` others; past
either bound it is refused (``Busy``). A released slot goes straight to the first caller
in line, so a call that arrives later can never overtake one that waits (aiohttp's own
pool lets a newcomer take a connection that was freed for a waiter, which starves the
waiter until its connect timeout fires: that timeout then looked like a dead service).

The queue is the gateway's own congestion, never the service's failure: it is decided
here, before the HTTP client runs, so the client's connect timeout only ever measures
connecting.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Admission", "Busy"]


class Busy(Exception):
    """No slot within the wait (``waited`` True) or the line is full (``waited`` False)."""

    def __init__(self, waited: bool) -> None:
        super().__init__("timed out in line" if waited else "the line is full")
        self.waited = waited


class Admission:
    """``limit`` slots with a FIFO line of at most ``max_waiting`` callers."""

    def __init__(self, limit: int, *, max_waiting: int, wait_seconds: float) -> None:
        if limit < 1 or max_waiting < 0 or wait_seconds <= 0:
            raise ValueError("limit >= 1, max_waiting >= 0 and wait_seconds > 0 are needed")
        self.limit = limit
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self.in_use = 0
        self._line: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Callers in line now."""
        return sum(1 for waiter in self._line if not waiter.done())

    async def acquire(self) -> None:
        """Take a slot, waiting in line if need be; raises ``Busy``."""
        line = self._line
        while line and line[0].done():
            line.popleft()  # gave up (timed out, cancelled) before their turn came
        if self.in_use < self.limit and not self._line:
            self.in_use += 1  # the common case: no await at all
            return
        if len(self._line) >= self.max_waiting:
            self._prune()
            if len(self._line) >= self.max_waiting:
                raise Busy(waited=False)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # handed the slot just as the wait ran out: it is ours
            waiter.cancel()
            raise Busy(waited=True) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # cancelled after being handed the slot: pass it on
            else:
                waiter.cancel()
            raise

    def release(self) -> None:
        """Give a slot back: to the first caller still in line, else to the pool."""
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves on: ``in_use`` stays
                return
        self.in_use -= 1

    def _prune(self) -> None:
        while self._line and self._line[0].done():
            self._line.popleft()
        if any(waiter.done() for waiter in self._line):
            self._line = deque(waiter for waiter in self._line if not waiter.done())
