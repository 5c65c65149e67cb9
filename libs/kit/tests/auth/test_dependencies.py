"""The FastAPI side: 401 without or with a bad token, 403 for a customer on admin routes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient

from emporium.kit.app import create_app
from emporium.kit.auth.denylist import CacheDenylist
from emporium.kit.auth.dependencies import AdminPrincipal, CurrentPrincipal, verifier_hook
from emporium.kit.settings import AuthSettings, RedisSettings, ServiceSettings
from emporium.kit.testing.tokens import TokenMint


class Settings(ServiceSettings, AuthSettings, RedisSettings):
    pass


router = APIRouter()


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    return {"subject": str(principal.subject), "role": principal.role}


@router.get("/admin/things")
async def admin_things(principal: AdminPrincipal) -> dict[str, str]:
    return {"admin": str(principal.subject)}


@pytest.fixture
def mint() -> TokenMint:
    return TokenMint()


@pytest.fixture
async def client(mint: TokenMint) -> AsyncIterator[AsyncClient]:
    app = create_app(
        settings=Settings(service_name="authtest", log_json=False),
        title="auth test",
        routers=[router],
        lifespan_hooks=[verifier_hook(mint.keys())],
    )
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as http,
    ):
        yield http


async def test_no_token_is_401_problem_with_bearer_challenge(client: AsyncClient) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_valid_token_reaches_the_endpoint(client: AsyncClient, mint: TokenMint) -> None:
    subject = uuid.uuid4()
    response = await client.get("/me", headers={"Authorization": f"Bearer {mint.token(subject)}"})
    assert response.status_code == 200
    assert response.json() == {"subject": str(subject), "role": "customer"}


async def test_bad_token_is_401_naming_the_reason(client: AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 401
    assert "JWT" in response.json()["detail"]


async def test_customer_on_an_admin_route_is_403(client: AsyncClient, mint: TokenMint) -> None:
    token = mint.token()
    response = await client.get("/admin/things", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    admin = mint.token(role="admin")
    ok = await client.get("/admin/things", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200


async def test_revoked_token_is_refused_by_every_app_in_the_process(
    client: AsyncClient, mint: TokenMint
) -> None:
    # The embedded default shares one denylist per process (Redis does it across processes).
    from emporium.kit.auth.denylist import shared_denylist

    token = mint.token()
    denylist, _ = shared_denylist(RedisSettings())
    assert isinstance(denylist, CacheDenylist)
    principal = (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert principal["role"] == "customer"
    from emporium.kit.auth import TokenVerifier

    verified = await TokenVerifier(mint.keys(), issuer=mint.issuer, audience=mint.audience).verify(
        token
    )
    await denylist.revoke(verified.token_id, expires_at=verified.expires_at)
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def test_revocation_crosses_processes_through_redis(redis_url: str, mint: TokenMint) -> None:
    from emporium.kit.auth import TokenVerifier
    from emporium.kit.auth.denylist import shared_denylist

    settings = RedisSettings(redis_url=redis_url)
    writer, _ = shared_denylist(settings)
    reader, _ = shared_denylist(settings)
    verifier = TokenVerifier(
        mint.keys(), issuer=mint.issuer, audience=mint.audience, denylist=reader
    )
    token = mint.token()
    principal = await verifier.verify(token)
    await writer.revoke(principal.token_id, expires_at=principal.expires_at)
    with pytest.raises(Exception, match="revoked"):
        await verifier.verify(token)
    await writer.close()
    await reader.close()
