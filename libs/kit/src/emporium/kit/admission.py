"""A fair line for a limited resource: ``limit`` slots, first come first served, a bounded wait.

At most ``limit`` callers hold a slot at once. One that finds every slot taken joins the
line and waits, at most the time it was given; a slot given back goes straight to the first
caller still in line, so a newcomer can never overtake a caller that waits (aiohttp's pool
lets a newcomer take a connection freed for a waiter, which starved waiters until their
timeout fired). A slot is never lost nor counted twice when a hand-off races the end of a
wait: a caller handed a slot just as its wait runs out keeps it, and one cancelled after
being handed a slot passes it on.

What is exempt, what a refused caller is answered and what is counted is the users' own
policy: the gateway's upstream pools and front line (``emporium.gateway.admission``) and
orders' request cap (``emporium.orders.admission``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

__all__ = ["FairLine"]


class FairLine:
    """``limit`` slots with a first-come first-served line for them.

    ``on_release`` (optional) is told of every slot given back: ``True`` when it went on to
    a caller in line, ``False`` when it went back to the pool (the line is empty then): the
    gateway's front line measures its pace with it.
    """

    def __init__(self, limit: int, *, on_release: Callable[[bool], None] | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.in_use = 0
        self._on_release = on_release
        # Callers in line, first first. A waiter whose task was just cancelled (its wait ran
        # out) stays here until that task runs again and takes it out; ``leave`` skips it.
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Callers in line now."""
        waiters = self._waiters
        # A line's callers usually wait as long each, so waits run out at its head: drop
        # those. (One cancelled further back counts until its task runs: a loop turn.)
        while waiters and waiters[0].done():
            waiters.popleft()
        return len(waiters)

    def try_enter(self) -> bool:
        """Take a free slot if there is one and nobody waits for it; never waits."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def enter(self, wait_seconds: float) -> bool:
        """Take a slot, waiting in line at most ``wait_seconds`` for one; False if none came.

        Cancelled while waiting, the caller leaves the line (a slot it was handed goes on).
        """
        if self.try_enter():
            return True  # the common case: no await at all
        if wait_seconds <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(wait_seconds):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # handed the slot just as the wait ran out: it is ours
            self._give_up(waiter)
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # cancelled after being handed the slot: pass it on
            else:
                self._give_up(waiter)
            raise
        return True

    def leave(self) -> None:
        """Give a slot back: to the first caller still in line, else to the pool."""
        handed = False
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # skips a caller whose wait was cancelled a moment ago
                waiter.set_result(None)  # the slot moves on: ``in_use`` stays
                handed = True
                break
        else:
            self.in_use -= 1
        if self._on_release is not None:
            self._on_release(handed)

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        # ``leave`` may have dropped it already (it was cancelled before that task ran).
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
