"""The circuit breaker on its own (a fake clock: no waiting)."""

from __future__ import annotations

import pytest

from emporium.gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=5, clock=clock)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.allow()
    breaker.record_success()  # consecutive only: a success starts the count again
    clock.now += 2  # ...and that answer is a while ago now
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_a_service_that_just_answered_is_busy_not_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=5, clock=clock)
    breaker.record_success()
    clock.now += 0.5
    for _ in range(10):  # a burst of calls that timed out together, just after an answer
        breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.allow()
    clock.now += 1.0  # no answer for a second, and it still fails: now it is down
    breaker.record_failure()
    assert breaker.state == "open"


def test_it_half_opens_for_one_trial_that_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    assert breaker.retry_after() == 5
    clock.now += 5
    assert breaker.state == "half_open"
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # nobody else meanwhile
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_failed_trial_opens_it_for_another_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_trial_that_never_reports_is_given_up() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    clock.now += 1
    assert not breaker.allow()
    clock.now += 5  # the trial's caller went away without a word
    assert breaker.allow()


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="reset_seconds"):
        CircuitBreaker(reset_seconds=0)
