"""The sign-in throttle's rules, as plain functions over failure counts (no I/O).

Failures are counted in three scopes over a sliding window:

- ``pair``: one email from one client address. Slows after ``slow_after`` failures and
  locks *that pair* after ``lock_after``: a guesser at one address is stopped, while the
  owner signing in from their own address is not affected by it.
- ``address``: one client address, any email (password spraying). Slows after
  ``address_slow_after`` and locks *that address* after ``address_lock_after``.
- ``email``: one email, every address together (a guesser spread over many addresses).
  Only a slow-down, after ``email_slow_after``, capped at ``max_delay``: it never locks, so
  nobody elsewhere can lock an owner out of their own account.

The answer's delay is the largest of the three scopes' delays (each doubling from ``delay``
after its threshold, at most ``max_delay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Failures", "LockScope", "ThrottlePolicy", "answer_delay", "delay_for", "locks_for"]

#: What a lock covers: one (email, address) pair, or one address for every email.
LockScope = Literal["pair", "address"]


@dataclass(frozen=True)
class ThrottlePolicy:
    slow_after: int
    lock_after: int
    address_slow_after: int
    address_lock_after: int
    email_slow_after: int
    delay: float
    max_delay: float
    lock_seconds: int

    def __post_init__(self) -> None:
        counts = (
            self.slow_after,
            self.lock_after,
            self.address_slow_after,
            self.address_lock_after,
            self.email_slow_after,
        )
        if min(counts) < 1 or self.lock_seconds < 1:
            raise ValueError("throttle thresholds and the lock time must be >= 1")
        if self.delay < 0 or self.max_delay < 0:
            raise ValueError("throttle delays must be >= 0")


@dataclass(frozen=True)
class Failures:
    """Recent failures: of this email from this address, of this address, of this email."""

    pair: int = 0
    address: int = 0
    email: int = 0


def delay_for(failures: int, slow_after: int, delay: float, max_delay: float) -> float:
    """Seconds to hold an answer after ``failures``: 0 below ``slow_after``, then doubling."""
    if failures < slow_after or delay <= 0:
        return 0.0
    steps = min(failures - slow_after, 64)  # 2**64 * delay is past any cap already
    return float(min(max_delay, delay * 2**steps))


def answer_delay(policy: ThrottlePolicy, failures: Failures) -> float:
    """How long to hold the answer to a sign-in given the recent ``failures``."""
    return max(
        delay_for(failures.pair, policy.slow_after, policy.delay, policy.max_delay),
        delay_for(failures.address, policy.address_slow_after, policy.delay, policy.max_delay),
        delay_for(failures.email, policy.email_slow_after, policy.delay, policy.max_delay),
    )


def locks_for(policy: ThrottlePolicy, failures: Failures) -> tuple[LockScope, ...]:
    """The scopes to lock once a failure has brought the counts to ``failures``.

    Never the email on its own: that would let anyone lock the owner out.
    """
    locks: list[LockScope] = []
    if failures.pair >= policy.lock_after:
        locks.append("pair")
    if failures.address >= policy.address_lock_after:
        locks.append("address")
    return tuple(locks)
