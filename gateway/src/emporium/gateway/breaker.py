"""A circuit breaker per upstream: stop calling a service that keeps failing, try it again later.

Closed: calls go through; ``failure_threshold`` consecutive failures open it, unless the
service answered a call within the last ``answered_seconds``: a burst of calls that timed
out together while others were being answered is a busy service, not a dead one (with 100
calls in flight, a few slow ones used to open it and refuse everything for 5 s). Open: calls
are refused at once (the caller answers 503 without waiting on a dead service) for
``reset_seconds``. Half-open: then one trial call goes through; its success closes the
breaker, its failure opens it again. A trial that never reports (its caller was cancelled)
is given up after ``reset_seconds`` and another trial is allowed.

Pure (no I/O); the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of one upstream and decides whether to call it."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 5.0,
        answered_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds must be positive")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.answered_seconds = answered_seconds
        self._clock = clock
        self._answered_at: float | None = None
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.reset_seconds:
            return "open"
        return "half_open"

    def retry_after(self) -> float:
        """Seconds until the breaker lets a trial through (0 unless open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open: only the one trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        if self._trial_started is not None and now - self._trial_started < self.reset_seconds:
            return False  # a trial is under way
        self._trial_started = now
        return True

    def record_success(self) -> None:
        self._answered_at = self._clock()
        self._failures = 0
        self._opened_at = None
        self._trial_started = None

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_started = None
        now = self._clock()
        if self._opened_at is not None:
            self._opened_at = now  # a failed trial: open for another full period
        elif self._failures >= self.failure_threshold and not (
            self._answered_at is not None and now - self._answered_at < self.answered_seconds
        ):
            self._opened_at = now
