"""Brute-force defence: failures per email and per IP lock sign-in with 429 + Retry-After."""

from __future__ import annotations

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
