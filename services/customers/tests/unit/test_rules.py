"""Rules that need no infrastructure: throttle policy, email and country normalisation."""

from __future__ import annotations

import pytest

from emporium.customers.account.countries import COUNTRY_CODES, country_code
from emporium.customers.auth.schemas import normalise_email
from emporium.customers.auth.throttle import LoginLocked, LoginThrottle, MemoryCounters
from emporium.customers.settings import Settings


def _throttle(**overrides: float) -> LoginThrottle:
    values: dict[str, float] = {
        "window": 900,
        "slow_after": 5,
        "delay": 0.25,
        "max_delay": 4.0,
        "lock_after": 20,
        "ip_lock_after": 100,
        "lock_seconds": 900,
        **overrides,
    }
    return LoginThrottle(
        MemoryCounters(),
        window=int(values["window"]),
        slow_after=int(values["slow_after"]),
        delay=values["delay"],
        max_delay=values["max_delay"],
        lock_after=int(values["lock_after"]),
        ip_lock_after=int(values["ip_lock_after"]),
        lock_seconds=int(values["lock_seconds"]),
    )


def test_answers_slow_down_after_repeated_failures_up_to_a_cap() -> None:
    throttle = _throttle()
    assert [throttle.delay_for(n) for n in (0, 4, 5, 6, 7, 20)] == [0, 0, 0.25, 0.5, 1.0, 4.0]


async def test_the_in_memory_counters_lock_an_email_too() -> None:
    throttle = _throttle(lock_after=3, delay=0)
    await throttle.check("a@example.com", "10.0.0.1")
    await throttle.failed("a@example.com", "10.0.0.1")
    await throttle.failed("a@example.com", "10.0.0.1")
    with pytest.raises(LoginLocked) as locked:
        await throttle.failed("a@example.com", "10.0.0.1")
    assert locked.value.headers["Retry-After"] == "900"
    with pytest.raises(LoginLocked):
        await throttle.check("a@example.com", "10.0.0.2")
    await throttle.check("b@example.com", "10.0.0.1")  # another email is fine


def test_emails_are_trimmed_lower_cased_and_checked() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    for bad in ("ada", "@example.com", "ada@localhost", "a da@example.com"):
        with pytest.raises(ValueError, match="email"):
            normalise_email(bad)


def test_country_codes_are_iso_3166_alpha_2() -> None:
    assert len(COUNTRY_CODES) == 249
    assert country_code("de") == "DE"
    for bad in ("UK", "XX", "EU", "DEU"):
        with pytest.raises(ValueError, match="ISO 3166"):
            country_code(bad)


def test_default_argon2_parameters_are_rfc_9106_low_memory() -> None:
    settings = Settings()
    assert (settings.argon2_time_cost, settings.argon2_memory_kib) == (3, 64 * 1024)
    assert settings.argon2_parallelism == 4
