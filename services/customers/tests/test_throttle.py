"""Brute-force defence: failures per email and per IP lock sign-in with 429 + Retry-After."""

from __future__ import annotations

import uuid

import pytest

from emporium.customers.models import Customer
from emporium.customers.testing import PASSWORD, Service, ServiceFactory


async def test_twenty_wrong_passwords_lock_sign_in_with_429_and_retry_after(
    service: Service,
) -> None:
    await service.register("target@example.com")
    for attempt in range(1, 20):
        response = await service.sign_in("target@example.com", f"guess-{attempt}")
        assert response.status_code == 401, attempt
    twentieth = await service.sign_in("target@example.com", "guess-20")
    assert twentieth.status_code == 429
    assert int(twentieth.headers["retry-after"]) > 0
    # Locked for a while: even the right password is refused until it passes.
    locked = await service.sign_in("target@example.com", PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 900
    assert locked.headers["content-type"] == "application/problem+json"
    # Other accounts are not affected.
    await service.register("bystander@example.com")
    assert (await service.sign_in("bystander@example.com")).status_code == 200


async def test_an_unknown_email_locks_the_same_way(service: Service) -> None:
    # Otherwise the lock would reveal which emails have accounts.
    for _ in range(19):
        assert (await service.sign_in("ghost@example.com", "nope-nope")).status_code == 401
    assert (await service.sign_in("ghost@example.com", "nope-nope")).status_code == 429


async def test_a_success_resets_the_count_of_failures(service: Service) -> None:
    await service.register("forgetful@example.com")
    for _ in range(3):
        for _ in range(15):
            wrong = await service.sign_in("forgetful@example.com", "wrong-password")
            assert wrong.status_code == 401
        assert (await service.sign_in("forgetful@example.com")).status_code == 200


async def test_failures_from_one_ip_across_many_emails_lock_that_ip(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url, login_ip_lock_after=10) as svc:
        await svc.register("innocent@example.com")
        for n in range(9):
            assert (await svc.sign_in(f"spray-{n}@example.com", "password1")).status_code == 401
        assert (await svc.sign_in("spray-9@example.com", "password1")).status_code == 429
        blocked = await svc.sign_in("innocent@example.com")
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers


async def test_the_lock_lives_in_redis_and_holds_across_processes(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url, login_lock_after=3) as first:
        await first.register("shared@example.com")
        for _ in range(3):
            await first.sign_in("shared@example.com", "wrong-password")
    async with service_factory(postgres_url, login_lock_after=3) as second:
        assert (await second.sign_in("shared@example.com")).status_code == 429


ATTACKER = "203.0.113.7"
OWNER = "198.51.100.2"


async def test_fifty_failures_from_one_address_never_lock_the_owner_out_from_theirs(
    service: Service,
) -> None:
    await service.register("owner@example.com")
    async with service.from_address(ATTACKER) as attacker, service.from_address(OWNER) as owner:
        answers = [
            (await service.sign_in("owner@example.com", f"guess-{n}", client=attacker)).status_code
            for n in range(50)
        ]
        # The guesser is stopped at their own address ...
        assert answers[:19] == [401] * 19
        assert set(answers[19:]) == {429}
        # ... and the owner, from theirs, signs in at once.
        assert (await service.sign_in("owner@example.com", client=owner)).status_code == 200
        # The owner's success does not lift the guesser's lock.
        assert (await service.sign_in("owner@example.com", client=attacker)).status_code == 429


async def test_guesses_spread_over_many_addresses_never_lock_the_email(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(
        postgres_url, login_lock_after=3, login_email_slow_after=5, login_max_delay_seconds=0.0
    ) as svc:
        await svc.register("spread@example.com")
        for n in range(20):
            async with svc.from_address(f"192.0.2.{n}") as guesser:
                for _ in range(2):
                    wrong = await svc.sign_in("spread@example.com", "wrong-one", client=guesser)
                    assert wrong.status_code == 401
        async with svc.from_address(OWNER) as owner:
            assert (await svc.sign_in("spread@example.com", client=owner)).status_code == 200


async def test_a_locked_address_does_not_lock_other_addresses(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url, login_ip_lock_after=10) as svc:
        await svc.register("innocent@example.com")
        async with svc.from_address(ATTACKER) as attacker, svc.from_address(OWNER) as owner:
            for n in range(10):
                await svc.sign_in(f"spray-{n}@example.com", "password1", client=attacker)
            assert (await svc.sign_in("innocent@example.com", client=attacker)).status_code == 429
            assert (await svc.sign_in("innocent@example.com", client=owner)).status_code == 200


async def test_a_disabled_account_counts_as_a_failure_like_a_wrong_password(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url, login_lock_after=3) as svc:
        customer = await svc.register("disabled@example.com")
        async with svc.resources.require_database().session() as session:
            row = await session.get(Customer, uuid.UUID(customer["id"]))
            assert row is not None
            row.disabled = True
        answers = [(await svc.sign_in("disabled@example.com")).status_code for _ in range(3)]
        assert answers == [401, 401, 429]


async def test_a_wrong_password_on_delete_me_is_counted_by_the_throttle(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url, login_lock_after=3) as svc:
        _, headers = await svc.customer("keep@example.com")
        answers = [
            (
                await svc.client.request(
                    "DELETE", "/me", json={"password": "wrong-wrong"}, headers=headers
                )
            ).status_code
            for _ in range(4)
        ]
        assert answers == [401, 401, 429, 429]
        assert (await svc.sign_in("keep@example.com")).status_code == 429
        async with svc.from_address(OWNER) as elsewhere:
            assert (await svc.sign_in("keep@example.com", client=elsewhere)).status_code == 200


async def test_a_disabled_account_does_the_same_password_work_as_a_wrong_password(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await service.register("quiet@example.com")
    async with service.resources.require_database().session() as session:
        row = await session.get(Customer, uuid.UUID(customer["id"]))
        assert row is not None
        row.disabled = True
    hasher = service.accounts.hasher
    verified: list[bool] = []
    real_verify = hasher.verify

    async def counting_verify(password_hash: str | None, password: str) -> bool:
        verified.append(password_hash is not None)
        return await real_verify(password_hash, password)

    monkeypatch.setattr(hasher, "verify", counting_verify)

    right = await service.sign_in("quiet@example.com", PASSWORD)
    wrong = await service.sign_in("quiet@example.com", "not-the-password")

    # The real hash is verified both times (not skipped for the disabled account).
    assert verified == [True, True]
    assert right.status_code == wrong.status_code == 401
    assert right.json()["type"] == wrong.json()["type"]
    assert right.json()["detail"] == wrong.json()["detail"]


async def test_a_body_over_64_kib_is_413(service: Service) -> None:
    response = await service.client.post(
        "/auth/token",
        content=b'{"email": "a@example.com", "password": "' + b"x" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
