"""Admission to a limited resource: a bounded, fair (FIFO) line of calls, bounded by time.

At most ``limit`` calls hold a slot at once (an upstream's pooled connections, the gateway's
front line). A call that finds every slot taken waits in line, at most ``wait_seconds``,
behind at most ``max_waiting`` others; past either bound it is refused (``Busy``). A
released slot goes straight to the first caller in line, so a call that arrives later can
never overtake one that waits (aiohttp's own pool lets a newcomer take a connection that
was freed for a waiter, which starves the waiter until its connect timeout fires: that
timeout then looked like a dead service). The line itself is the kit's ``FairLine``; the
bounds on its length and its pace, and the ``Busy`` answer, are the gateway's policy here.

With ``early``, a call that could not start in time is refused at once, not after waiting
for nothing: while the line stands, the pace it moves at is measured (slots handed on per
second over each ``RATE_WINDOW``), and a newcomer whose turn would come after
``turn_seconds`` (``wait_seconds`` unless shorter) is refused on arrival. Until one window
has been measured (a burst just began) only the wait's own bound applies: a pace measured
while idle says nothing about a busy line. A ``turn_seconds`` well under the wait keeps the
line that short under an open-loop overload, and leaves the calls in it slack for a pace
that falters: with the two equal (2 s) the line stood 2 s deep, its calls were answered
after ~2 s (p90 2,081 ms) and one refusal in seven was a call that had waited the 2 s for
nothing. Not for an upstream's line: a service warming up moves slower at first than
later, and refusing on its first pace refused 1,015 of 1,000 shoppers' first misses that
waiting served.

The queue is the gateway's own congestion, never the service's failure: it is decided
here, before the HTTP client runs, so the client's connect timeout only ever measures
connecting.
"""

from __future__ import annotations

import time

from emporium.kit.admission import FairLine

__all__ = ["RATE_WINDOW", "REASONS", "Admission", "Busy"]

#: Seconds over which the line's pace is measured (and then measured again).
RATE_WINDOW = 0.5
#: Every ``Busy.reason``.
REASONS = ("late", "timeout", "full")


class Busy(Exception):
    """No slot within the wait (``waited``), the line moves too slowly for one (``late``),
    or the line is full (neither)."""

    def __init__(self, waited: bool, *, late: bool = False) -> None:
        super().__init__(
            "timed out in line" if waited else "the turn would come too late" if late
            else "the line is full"
        )  # fmt: skip
        self.waited = waited
        self.late = late

    @property
    def reason(self) -> str:
        """``timeout``, ``late`` or ``full``: the refusal's kind, as metrics label it."""
        return "timeout" if self.waited else "late" if self.late else "full"


class Admission:
    """``limit`` slots with a FIFO line of at most ``max_waiting`` callers."""

    def __init__(
        self,
        limit: int,
        *,
        max_waiting: int,
        wait_seconds: float,
        early: bool = False,
        turn_seconds: float | None = None,
    ) -> None:
        if limit < 1 or max_waiting < 0 or wait_seconds <= 0:
            raise ValueError("limit >= 1, max_waiting >= 0 and wait_seconds > 0 are needed")
        if turn_seconds is not None and turn_seconds <= 0:
            raise ValueError("turn_seconds > 0 is needed")
        self.limit = limit
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self.early = early
        # The longest a newcomer's turn may be off for an ``early`` line to let it queue.
        self.turn_seconds = min(wait_seconds, turn_seconds or wait_seconds)
        # Only an ``early`` line measures its pace: the others pay nothing per release.
        self._line = FairLine(limit, on_release=self._released if early else None)
        # The line's pace while it stands: slots handed on since ``_window_start``, and
        # the last full window's rate (None: not measured in this episode yet).
        self._window_start: float | None = None
        self._handed = 0
        self._rate: float | None = None

    @property
    def in_use(self) -> int:
        """Slots held now."""
        return self._line.in_use

    @property
    def waiting(self) -> int:
        """Callers in line now."""
        return self._line.waiting

    def refusal(self) -> Busy | None:
        """The ``Busy`` that ``acquire`` would raise on arrival now (the line is full, or
        a turn would come too late), else None; takes nothing and changes nothing."""
        line = self._line
        if line.in_use < line.limit and not line.waiting:
            return None  # a slot is free
        if line.waiting >= self.max_waiting:
            return Busy(waited=False)
        if (
            self.early
            and self._window_start is not None
            and self._rate
            and line.waiting >= self._rate * self.turn_seconds
        ):
            return Busy(waited=False, late=True)  # its turn would come too late
        return None

    async def acquire(self) -> None:
        """Take a slot, waiting in line if need be; raises ``Busy``."""
        line = self._line
        if line.try_enter():
            return  # the common case: no await at all
        refused = self.refusal()
        if refused is not None:
            raise refused
        if self.early and self._window_start is None:
            self._window_start, self._handed, self._rate = time.monotonic(), 0, None
        if not await line.enter(self.wait_seconds):
            raise Busy(waited=True)

    def release(self) -> None:
        """Give a slot back: to the first caller still in line, else to the pool."""
        self._line.leave()

    def _released(self, handed: bool) -> None:
        if not handed:
            self._window_start = None  # the line is gone: its pace no longer says anything
            return
        self._handed += 1
        start = self._window_start
        if start is None:
            return  # not measured (no line yet)
        now = time.monotonic()
        if now - start >= RATE_WINDOW:
            self._rate = self._handed / (now - start)
            self._window_start, self._handed = now, 0
