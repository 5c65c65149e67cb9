"""Admin bootstrap and /admin/customers: search, view, edit, disable, delete, audited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from emporium.customers.bootstrap import DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD, WeakAdminPassword
from emporium.customers.models import Customer
from emporium.customers.testing import PASSWORD, Service, ServiceFactory, bearer
from emporium.kit.outbox import OutboxMessage

ADMIN_EMAIL = "Boss@Example.com"
ADMIN_PASSWORD = "a long and unguessable passphrase 7"


@pytest.fixture
async def shop(postgres_url: str, service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(
        postgres_url, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
    ) as svc:
        yield svc


async def _admin(svc: Service) -> dict[str, str]:
    return bearer((await svc.tokens(ADMIN_EMAIL, ADMIN_PASSWORD))["access_token"])


async def _admins(svc: Service) -> int:
    async with svc.resources.require_database().session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.role == "admin")
        )
    return int(count or 0)


async def test_the_admin_is_created_once_from_the_environment(
    postgres_url: str, service_factory: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMPORIUM_ADMIN_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("EMPORIUM_ADMIN_PASSWORD", ADMIN_PASSWORD)
    for _ in range(2):
        async with service_factory(postgres_url) as svc:
            me = await svc.client.get("/me", headers=await _admin(svc))
            assert me.json()["role"] == "admin"
            assert me.json()["email"] == "boss@example.com"
            assert await _admins(svc) == 1


@pytest.mark.parametrize("password", [None, DEV_ADMIN_PASSWORD, "short", "password1234"])
async def test_outside_dev_a_missing_default_or_weak_admin_password_refuses_to_start(
    postgres_url: str, service_factory: ServiceFactory, password: str | None
) -> None:
    with pytest.raises(WeakAdminPassword):
        async with service_factory(
            postgres_url,
            environment="prod",
            secret_key="s" * 40,
            admin_email=ADMIN_EMAIL,
            admin_password=password,
        ):
            pass


async def test_in_dev_the_documented_defaults_are_used_and_printed(
    sqlite_url: str, service_factory: ServiceFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with service_factory(sqlite_url, environment="dev") as svc:
        assert (await svc.sign_in(DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD)).status_code == 200
    assert f"{DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD}" in capsys.readouterr().out


async def test_a_customer_registered_with_the_admin_email_is_not_promoted(
    postgres_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(postgres_url) as svc:
        await svc.register(ADMIN_EMAIL)
    async with service_factory(
        postgres_url, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
    ) as svc:
        assert await _admins(svc) == 0


async def test_customers_cannot_use_the_admin_api(shop: Service) -> None:
    _, headers = await shop.customer("plain@example.com")
    assert (await shop.client.get("/admin/customers", headers=headers)).status_code == 403
    assert (await shop.client.get("/admin/customers")).status_code == 401


async def test_search_by_email_or_name_with_cursor_pagination(shop: Service) -> None:
    admin = await _admin(shop)
    for n in range(5):
        await shop.register(f"findme-{n}@example.com", name=f"Person {n}")
    await shop.register("other@example.com", name="Findme Byname")

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"q": "FINDME", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await shop.client.get("/admin/customers", params=params, headers=admin)).json()
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"findme-{n}@example.com" for n in range(5)] + ["other@example.com"]
    item = (
        await shop.client.get("/admin/customers", params={"q": "findme-0"}, headers=admin)
    ).json()["items"][0]
    assert item["order_count"] == 0
    assert item["lifetime_spend"] == {"amount": 0, "currency": "EUR"}


async def test_edit_disable_and_delete_are_audited_and_published(shop: Service) -> None:
    admin = await _admin(shop)
    customer_id, headers = await shop.customer("managed@example.com", name="Managed")
    tokens = await shop.tokens("managed@example.com")
    path = f"/admin/customers/{customer_id}"

    view = await shop.client.get(path, headers=admin)
    assert view.status_code == 200
    assert view.json()["email"] == "managed@example.com"
    assert (
        await shop.client.get(f"/admin/customers/{uuid.uuid4()}", headers=admin)
    ).status_code == 404

    renamed = await shop.client.patch(path, json={"name": "Renamed"}, headers=admin)
    assert renamed.json()["name"] == "Renamed"
    assert (await shop.client.get("/me", headers=headers)).json()["name"] == "Renamed"

    disabled = await shop.client.patch(path, json={"disabled": True}, headers=admin)
    assert disabled.json()["disabled"] is True
    # Signed out everywhere and unable to sign in again.
    assert (await shop.client.get("/me", headers=headers)).status_code == 401
    refresh = await shop.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    # Exactly like a wrong password: same status, same problem (minus its request id).
    refused = await shop.sign_in("managed@example.com", PASSWORD)
    wrong = await shop.sign_in("managed@example.com", "not-the-password")
    assert refused.status_code == wrong.status_code == 401
    assert _without_request_id(refused.json()) == _without_request_id(wrong.json())
    # The kit's verifier (gateway, other services) refuses the token too: it is denylisted.
    verifier_denylist = shop.accounts.denylist
    jti = jwt.decode(headers["Authorization"][7:], options={"verify_signature": False})["jti"]
    assert await verifier_denylist.is_revoked(jti)

    enabled = await shop.client.patch(path, json={"disabled": False}, headers=admin)
    assert enabled.json()["disabled"] is False
    assert (await shop.sign_in("managed@example.com", PASSWORD)).status_code == 200

    promoted = await shop.client.patch(path, json={"role": "admin"}, headers=admin)
    assert promoted.json()["role"] == "admin"
    assert (await shop.client.patch(path, json={"role": "boss"}, headers=admin)).status_code == 422

    assert (await shop.client.delete(path, headers=admin)).status_code == 204
    gone = (await shop.client.get(path, headers=admin)).json()
    assert (gone["deleted"], gone["email"], gone["name"]) == (True, None, "")

    trail = (await shop.client.get(f"{path}/audit", headers=admin)).json()
    admin_id = (await shop.client.get("/me", headers=admin)).json()["id"]
    assert [entry["action"] for entry in trail] == ["update"] * 4 + ["delete"]
    assert {entry["actor_id"] for entry in trail} == {admin_id}
    assert trail[0]["changes"] == {"name": {"from": "Managed", "to": "Renamed"}}
    assert trail[1]["changes"] == {"disabled": {"from": False, "to": True}}

    async with shop.resources.require_database().session() as session:
        types = list(
            await session.scalars(
                select(OutboxMessage.type)
                .where(OutboxMessage.key == customer_id)
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
        )
    assert types == ["customers.CustomerRegistered.v1"] + ["customers.CustomerUpdated.v1"] * 4 + [
        "customers.CustomerDeleted.v1"
    ]


async def test_admins_cannot_lock_themselves_out(shop: Service) -> None:
    admin = await _admin(shop)
    admin_id = (await shop.client.get("/me", headers=admin)).json()["id"]
    path = f"/admin/customers/{admin_id}"
    assert (
        await shop.client.patch(path, json={"disabled": True}, headers=admin)
    ).status_code == 409
    assert (
        await shop.client.patch(path, json={"role": "customer"}, headers=admin)
    ).status_code == 409
    assert (await shop.client.delete(path, headers=admin)).status_code == 409


async def test_a_demoted_admin_loses_admin_access_at_once(shop: Service) -> None:
    admin = await _admin(shop)
    other_id, _ = await shop.customer("deputy@example.com")
    await shop.client.patch(f"/admin/customers/{other_id}", json={"role": "admin"}, headers=admin)
    deputy = bearer((await shop.tokens("deputy@example.com"))["access_token"])
    assert (await shop.client.get("/admin/customers", headers=deputy)).status_code == 200
    await shop.client.patch(
        f"/admin/customers/{other_id}", json={"role": "customer"}, headers=admin
    )
    assert (await shop.client.get("/admin/customers", headers=deputy)).status_code == 401


def _without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in problem.items() if key != "request_id"}
