"""Signing-key rotation: nobody is signed out; retired keys leave the JWKS once unused."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import update

from emporium.customers.models import SigningKey
from emporium.customers.testing import Service, bearer, make_settings, running
from emporium.kit.auth import RemoteJWKS, TokenVerifier
from emporium.kit.errors import Unauthorized
from emporium.kit.outbox import utcnow


async def _rotate(service: Service, *, ahead: timedelta = timedelta(0)) -> str:
    async with service.resources.require_database().session() as session:
        row = await service.accounts.keys.rotate(session, publish_ahead=ahead)
    service.accounts.key_source.forget()
    return row.kid


async def _kids(service: Service) -> list[str]:
    return [key["kid"] for key in (await service.client.get("/auth/jwks")).json()["keys"]]


async def test_rotation_keeps_old_tokens_valid_until_they_expire(service: Service) -> None:
    _, old_headers = await service.customer("rotation@example.com")
    old_kid = jwt.get_unverified_header(old_headers["Authorization"][7:])["kid"]

    new_kid = await _rotate(service)
    assert await _kids(service) == [new_kid, old_kid]
    new_tokens = await service.tokens("rotation@example.com")
    assert jwt.get_unverified_header(new_tokens["access_token"])["kid"] == new_kid

    # Both the token signed before the rotation and the one after work.
    assert (await service.client.get("/me", headers=old_headers)).status_code == 200
    new_headers = bearer(new_tokens["access_token"])
    assert (await service.client.get("/me", headers=new_headers)).status_code == 200

    # Once every token the old key signed has expired, the key leaves the JWKS.
    ttl = timedelta(seconds=service.accounts.settings.access_token_ttl_seconds)
    async with service.resources.require_database().session() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(retired_at=utcnow() - ttl - timedelta(minutes=2))
        )
    service.accounts.key_source.forget()
    assert await _kids(service) == [new_kid]
    assert (await service.client.get("/me", headers=new_headers)).status_code == 200
    assert (await service.client.get("/me", headers=old_headers)).status_code == 401


async def test_a_key_is_published_before_it_starts_signing(service: Service) -> None:
    current = (await _kids(service))[0]
    upcoming = await _rotate(service, ahead=timedelta(hours=1))
    assert await _kids(service) == [upcoming, current]
    _, headers = await service.customer("ahead@example.com")
    assert jwt.get_unverified_header(headers["Authorization"][7:])["kid"] == current


async def test_a_changed_secret_key_rotates_to_a_key_it_can_open(
    postgres_url: str, unique: str, redis_url: str
) -> None:
    first = make_settings(postgres_url, unique, redis_url=redis_url)
    async with running(first) as svc:
        _, headers = await svc.customer("secret@example.com")
        old_kid = (await _kids(svc))[0]
    second = make_settings(
        postgres_url, unique, redis_url=redis_url, secret_key="another-secret-" * 3
    )
    async with running(second) as svc:
        assert (await svc.client.get("/me", headers=headers)).status_code == 200
        tokens = await svc.tokens("secret@example.com")
        new_kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
        assert new_kid != old_kid
        assert set(await _kids(svc)) == {old_kid, new_kid}


async def test_a_key_older_than_its_max_age_is_rotated_at_start(
    postgres_url: str, unique: str, redis_url: str
) -> None:
    settings = make_settings(postgres_url, unique, redis_url=redis_url)
    async with running(settings) as svc:
        old_kid = (await _kids(svc))[0]
        async with svc.resources.require_database().session() as session:
            await session.execute(
                update(SigningKey).values(active_from=utcnow() - timedelta(days=91))
            )
    async with running(settings) as svc:
        kids = await _kids(svc)
        assert len(kids) == 2
        assert kids[1] == old_kid


async def test_other_services_verify_through_the_published_jwks_across_a_rotation(
    service: Service,
) -> None:
    # What the gateway and the other services do: the kit's verifier on the remote JWKS.
    client = AsyncClient(transport=ASGITransport(app=service.app), base_url="http://customers")
    remote = RemoteJWKS("http://customers/auth/jwks", client=client, min_refetch_seconds=0)
    verifier = TokenVerifier(
        remote,
        issuer="emporium-customers",
        audience="emporium",
        denylist=service.accounts.denylist,
    )
    try:
        customer_id, headers = await service.customer("remote@example.com")
        before = await verifier.verify(headers["Authorization"][7:])
        assert str(before.subject) == customer_id
        assert before.role == "customer"

        await _rotate(service)
        after = (await service.tokens("remote@example.com"))["access_token"]
        assert str((await verifier.verify(after)).subject) == customer_id
        assert (await verifier.verify(headers["Authorization"][7:])).subject == before.subject

        await service.client.post("/auth/logout", headers=bearer(after))
        with pytest.raises(Unauthorized):
            await verifier.verify(after)
    finally:
        await client.aclose()
