"""Rules that need no infrastructure: throttle policy, email and country normalisation."""

from __future__ import annotations

import pytest

from emporium.customers.account.countries import COUNTRY_CODES, country_code
from emporium.customers.auth.schemas import normalise_email
from emporium.customers.auth.throttle import LoginLocked, LoginThrottle, MemoryCounters
from emporium.customers.auth.throttle_policy import ThrottlePolicy
from emporium.customers.settings import Settings


def _throttle(**overrides: float) -> LoginThrottle:
    values: dict[str, float] = {
        "slow_after": 5,
        "lock_after": 20,
        "address_slow_after": 20,
        "address_lock_after": 100,
        "email_slow_after": 50,
        "delay": 0.25,
        "max_delay": 4.0,
        "lock_seconds": 900,
        **overrides,
    }
    policy = ThrottlePolicy(
        slow_after=int(values["slow_after"]),
        lock_after=int(values["lock_after"]),
        address_slow_after=int(values["address_slow_after"]),
        address_lock_after=int(values["address_lock_after"]),
        email_slow_after=int(values["email_slow_after"]),
        delay=values["delay"],
        max_delay=values["max_delay"],
        lock_seconds=int(values["lock_seconds"]),
    )
    return LoginThrottle(MemoryCounters(), policy, window=900)


async def test_the_in_memory_counters_lock_one_email_at_one_address() -> None:
    throttle = _throttle(lock_after=3, delay=0)
    await throttle.check("a@example.com", "10.0.0.1")
    await throttle.failed("a@example.com", "10.0.0.1")
    await throttle.failed("a@example.com", "10.0.0.1")
    with pytest.raises(LoginLocked) as locked:
        await throttle.failed("a@example.com", "10.0.0.1")
    assert locked.value.headers["Retry-After"] == "900"
    with pytest.raises(LoginLocked):
        await throttle.check("a@example.com", "10.0.0.1")
    await throttle.check("a@example.com", "10.0.0.2")  # the owner's own address is fine
    await throttle.check("b@example.com", "10.0.0.1")  # another email is fine


async def test_the_in_memory_counters_lock_an_address_for_every_email() -> None:
    throttle = _throttle(address_lock_after=3, delay=0)
    for n in range(2):
        await throttle.failed(f"spray-{n}@example.com", "10.0.0.9")
    with pytest.raises(LoginLocked):
        await throttle.failed("spray-2@example.com", "10.0.0.9")
    with pytest.raises(LoginLocked):
        await throttle.check("anyone@example.com", "10.0.0.9")
    await throttle.check("anyone@example.com", "10.0.0.10")


async def test_failures_from_everywhere_never_lock_an_email() -> None:
    throttle = _throttle(lock_after=2, email_slow_after=1, delay=0)
    for n in range(200):
        try:
            await throttle.failed("owner@example.com", f"10.1.{n // 250}.{n % 250}")
        except LoginLocked:  # pragma: no cover - would be the bug
            pytest.fail("an email alone must never lock")
    await throttle.check("owner@example.com", "10.9.9.9")


async def test_a_success_forgets_only_its_own_pair() -> None:
    throttle = _throttle(lock_after=3, delay=0)
    for _ in range(2):
        await throttle.failed("a@example.com", "10.0.0.1")
        await throttle.failed("a@example.com", "10.0.0.2")
    await throttle.succeeded("a@example.com", "10.0.0.2")
    await throttle.failed("a@example.com", "10.0.0.2")  # counted from zero again: no lock
    with pytest.raises(LoginLocked):
        await throttle.failed("a@example.com", "10.0.0.1")  # the other address still counts


def test_emails_are_trimmed_lower_cased_and_checked() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    for bad in ("ada", "@example.com", "ada@localhost", "a da@example.com", "a\x00@example.com"):
        with pytest.raises(ValueError, match="email"):
            normalise_email(bad)


def test_country_codes_are_iso_3166_alpha_2() -> None:
    assert len(COUNTRY_CODES) == 249
    assert country_code("de") == "DE"
    # Exactly the schema's enum (upper or lower case): no mixed case, no padding.
    for bad in ("UK", "XX", "EU", "DEU", "De", " DE", "de "):
        with pytest.raises(ValueError, match="ISO 3166"):
            country_code(bad)


def test_default_argon2_parameters_are_rfc_9106_low_memory() -> None:
    settings = Settings()
    assert (settings.argon2_time_cost, settings.argon2_memory_kib) == (3, 64 * 1024)
    assert settings.argon2_parallelism == 4


async def test_expired_in_memory_counters_are_swept() -> None:
    counters = MemoryCounters(sweep_every=10)
    for n in range(50):
        await counters.incr(f"spray-{n}", window=0)  # expires at once
    assert len(counters) < 10
    await counters.incr("kept", window=900)
    for n in range(20):
        await counters.incr(f"more-{n}", window=0)
    assert await counters.get("kept") == 1
