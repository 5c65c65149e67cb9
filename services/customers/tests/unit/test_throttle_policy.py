"""The sign-in throttle's rules: who is slowed, who is locked, and who never is."""

from __future__ import annotations

import pytest

from emporium.customers.auth.throttle_policy import (
    Failures,
    ThrottlePolicy,
    answer_delay,
    delay_for,
    locks_for,
)

POLICY = ThrottlePolicy(
    slow_after=5,
    lock_after=20,
    address_slow_after=20,
    address_lock_after=100,
    email_slow_after=50,
    delay=0.25,
    max_delay=4.0,
    lock_seconds=900,
)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (0, 0.0),
        (4, 0.0),
        (5, 0.25),
        (6, 0.5),
        (7, 1.0),
        (8, 2.0),
        (9, 4.0),
        (10, 4.0),
        (10_000, 4.0),
        (2**70, 4.0),  # no overflow, however many
    ],
)
def test_the_delay_doubles_after_the_threshold_up_to_the_cap(
    failures: int, expected: float
) -> None:
    assert delay_for(failures, 5, 0.25, 4.0) == expected


def test_no_delay_when_the_first_delay_is_zero() -> None:
    assert delay_for(100, 5, 0.0, 4.0) == 0.0


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (Failures(), 0.0),
        (Failures(pair=4, address=19, email=49), 0.0),
        (Failures(pair=5), 0.25),
        (Failures(address=20), 0.25),
        (Failures(email=50), 0.25),
        (Failures(pair=6, address=20, email=50), 0.5),  # the largest of the three
        (Failures(pair=0, address=0, email=52), 1.0),
        (Failures(pair=0, address=0, email=10**9), 4.0),  # capped: a slow-down, not a lock
    ],
)
def test_the_answer_waits_for_the_slowest_scope(failures: Failures, expected: float) -> None:
    assert answer_delay(POLICY, failures) == expected


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (Failures(), ()),
        (Failures(pair=19, address=99, email=10**6), ()),
        (Failures(pair=20), ("pair",)),
        (Failures(pair=21), ("pair",)),
        (Failures(address=100), ("address",)),
        (Failures(pair=20, address=100), ("pair", "address")),
        # However many failures an email has from everywhere, the email alone never locks:
        (Failures(pair=0, address=0, email=10**9), ()),
        (Failures(pair=1, address=1, email=5_000), ()),
    ],
)
def test_only_a_pair_or_an_address_is_ever_locked(
    failures: Failures, expected: tuple[str, ...]
) -> None:
    assert locks_for(POLICY, failures) == expected


def test_fifty_failures_from_one_address_do_not_lock_the_owner_elsewhere() -> None:
    attacker = Failures(pair=50, address=50, email=50)
    owner = Failures(pair=0, address=0, email=50)  # the owner's address, after the attack
    assert "pair" in locks_for(POLICY, attacker)
    assert locks_for(POLICY, owner) == ()
    assert answer_delay(POLICY, owner) <= POLICY.max_delay


@pytest.mark.parametrize(
    "change",
    [
        {"slow_after": 0},
        {"lock_after": 0},
        {"address_slow_after": 0},
        {"address_lock_after": -1},
        {"email_slow_after": 0},
        {"lock_seconds": 0},
        {"delay": -0.1},
        {"max_delay": -1.0},
    ],
)
def test_a_policy_refuses_nonsense_thresholds(change: dict[str, float]) -> None:
    values: dict[str, float] = {
        "slow_after": 5,
        "lock_after": 20,
        "address_slow_after": 20,
        "address_lock_after": 100,
        "email_slow_after": 50,
        "delay": 0.25,
        "max_delay": 4.0,
        "lock_seconds": 900,
        **change,
    }
    with pytest.raises(ValueError, match="must be"):
        ThrottlePolicy(**values)  # type: ignore[arg-type]
