"""/me and /me/addresses: one's own profile and addresses, nobody else's."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from emporium.customers.models import Customer
from emporium.customers.testing import PASSWORD, Service
from emporium.kit.outbox import OutboxMessage

ADDRESS = {
    "line1": "1 Infinite Loop",
    "line2": None,
    "city": "Cupertino",
    "postal_code": "95014",
    "country": "us",
}


async def _event_types(service: Service, customer_id: str) -> list[str]:
    async with service.resources.require_database().session() as session:
        rows = await session.scalars(
            select(OutboxMessage.type)
            .where(OutboxMessage.key == customer_id)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return list(rows)


async def test_profile_update_is_published(any_db_service: Service) -> None:
    svc = any_db_service
    customer_id, headers = await svc.customer("me@example.com", name="Old Name")
    updated = await svc.client.patch("/me", json={"name": "New Name"}, headers=headers)
    assert updated.status_code == 200
    assert updated.json()["name"] == "New Name"
    assert (await svc.client.get("/me", headers=headers)).json()["name"] == "New Name"
    assert await _event_types(svc, customer_id) == [
        "customers.CustomerRegistered.v1",
        "customers.CustomerUpdated.v1",
    ]


async def test_address_crud_with_iso_country_codes(any_db_service: Service) -> None:
    svc = any_db_service
    _, headers = await svc.customer("addr@example.com")
    created = await svc.client.post("/me/addresses", json=ADDRESS, headers=headers)
    assert created.status_code == 201, created.text
    address = created.json()
    assert address["country"] == "US"

    listed = await svc.client.get("/me/addresses", headers=headers)
    assert [a["id"] for a in listed.json()] == [address["id"]]

    patched = await svc.client.patch(
        f"/me/addresses/{address['id']}", json={"city": "Paris", "country": "FR"}, headers=headers
    )
    assert patched.status_code == 200
    assert (patched.json()["city"], patched.json()["country"]) == ("Paris", "FR")

    bad = await svc.client.post("/me/addresses", json={**ADDRESS, "country": "XX"}, headers=headers)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["body.country"]
    assert (
        await svc.client.patch(
            f"/me/addresses/{address['id']}", json={"country": "UK"}, headers=headers
        )
    ).status_code == 422

    deleted = await svc.client.delete(f"/me/addresses/{address['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await svc.client.get("/me/addresses", headers=headers)).json() == []


async def test_nobody_can_read_or_change_someone_elses_address(service: Service) -> None:
    _, alice = await service.customer("alice@example.com", name="Alice")
    _, mallory = await service.customer("mallory@example.com", name="Mallory")
    address = (await service.client.post("/me/addresses", json=ADDRESS, headers=alice)).json()
    path = f"/me/addresses/{address['id']}"

    assert (await service.client.get(path, headers=mallory)).status_code == 404
    changed = await service.client.patch(path, json={"city": "Nowhere"}, headers=mallory)
    assert changed.status_code == 404
    assert (await service.client.delete(path, headers=mallory)).status_code == 404
    assert (await service.client.get("/me/addresses", headers=mallory)).json() == []
    # As unknown as an id that never existed.
    unknown = await service.client.get(f"/me/addresses/{uuid.uuid4()}", headers=mallory)
    assert unknown.status_code == 404

    mine = await service.client.get(path, headers=alice)
    assert mine.status_code == 200
    assert mine.json()["city"] == "Cupertino"


async def test_a_customer_only_ever_sees_and_changes_their_own_profile(service: Service) -> None:
    alice_id, alice = await service.customer("alice2@example.com", name="Alice")
    _, bob = await service.customer("bob2@example.com", name="Bob")
    await service.client.patch("/me", json={"name": "Bobby"}, headers=bob)
    me = (await service.client.get("/me", headers=alice)).json()
    assert (me["id"], me["name"]) == (alice_id, "Alice")
    # A customer cannot reach the admin view of another record.
    assert (
        await service.client.get(f"/admin/customers/{alice_id}", headers=bob)
    ).status_code == 403


async def test_deleting_the_account_erases_personal_data_and_signs_out(service: Service) -> None:
    customer_id, headers = await service.customer("erase@example.com", name="Erase Me")
    tokens = await service.tokens("erase@example.com")
    await service.client.post("/me/addresses", json=ADDRESS, headers=headers)

    deleted = await service.client.request(
        "DELETE", "/me", json={"password": PASSWORD}, headers=headers
    )
    assert deleted.status_code == 204

    assert (await service.client.get("/me", headers=headers)).status_code == 401
    refresh = await service.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await service.sign_in("erase@example.com", PASSWORD)).status_code == 401
    async with service.resources.require_database().session() as session:
        row = await session.get(Customer, uuid.UUID(customer_id))
        assert row is not None  # kept, anonymised, for order history
        assert (row.email, row.name, row.password_hash) == (None, "", None)
        assert row.deleted_at is not None
    assert (await _event_types(service, customer_id))[-1] == "customers.CustomerDeleted.v1"
    # The email is free again.
    assert (await service.register("erase@example.com"))["id"] != customer_id


async def test_me_needs_a_token(service: Service) -> None:
    response = await service.client.get("/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
