"""POST /orders and reading orders: idempotency, snapshots, the empty cart, privacy."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from emporium.contracts.catalog import ProductPriceChanged
from emporium.contracts.customers import CustomerDeleted

#: HTTP rules with no saga in them: the embedded backend is enough (and quick).
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


async def test_checkout_snapshots_the_cart_into_a_pending_order_and_empties_the_cart(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    mug, tee = await orders.product(price=1250, sku="MUG"), await orders.product(price=1999)
    await orders.add(customer, mug, 2)
    await orders.add(customer, tee, 1)
    response = await orders.checkout(customer)
    assert response.status_code == 202, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["total"] == {"amount": 4499, "currency": "EUR"}
    assert next((line["sku"], line["quantity"]) for line in order["lines"]) == ("MUG", 2)
    assert order["lines"][0]["unit_price"] == {"amount": 1250, "currency": "EUR"}
    assert order["shipping_address"]["city"] == "London"
    assert [h["status"] for h in order["history"]] == ["pending"]
    cart = await orders.client.get("/cart", headers=orders.auth(customer))
    assert cart.json()["items"] == []
    assert await orders.events(order["id"], count=1) == ["OrderPlaced"]

    # Catalog repricing later does not touch the order's copy.
    await orders.publish(
        ProductPriceChanged(product_id=mug, old_amount=1250, new_amount=9999, currency="EUR"), mug
    )
    await orders.until_product(mug, lambda p: p.price_amount == 9999)
    again = await orders.order(customer, order["id"])
    assert again["lines"][0]["unit_price"]["amount"] == 1250
    assert again["total"]["amount"] == 4499


async def test_the_same_idempotency_key_gives_the_same_order_once(orders: Any) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await orders.product())
    first = await orders.checkout(customer, key="checkout-1")
    second = await orders.checkout(customer, key="checkout-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    listed = await orders.client.get("/orders", headers=orders.auth(customer))
    assert len(listed.json()["items"]) == 1


async def test_concurrent_checkouts_with_one_key_make_one_order(orders: Any) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await orders.product())
    responses = await asyncio.gather(*(orders.checkout(customer, key="k") for _ in range(5)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1


async def test_the_same_key_with_another_body_is_409(orders: Any) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await orders.product())
    first = await orders.checkout(customer, key="k1")
    assert first.status_code == 202
    other = await orders.checkout(customer, key="k1", token="tok_decline")
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"].endswith("/idempotency-key-reused")
    again = await orders.checkout(customer, key="k1")
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]


@EMBEDDED_ONLY
async def test_checkout_without_an_idempotency_key_is_422(orders: Any) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await orders.product())
    response = await orders.client.post(
        "/orders",
        json={"shipping_address": {}, "payment": {"card_token": "tok_visa"}},
        headers=orders.auth(customer),
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "header.Idempotency-Key" in fields
    assert any(f.startswith("body.shipping_address") for f in fields)


@EMBEDDED_ONLY
async def test_an_empty_cart_cannot_be_ordered(orders: Any) -> None:
    response = await orders.checkout(uuid.uuid4())
    assert response.status_code == 409
    assert response.json()["type"].endswith("/empty-cart")


async def test_a_customer_never_sees_another_customers_orders(orders: Any) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    order = await orders.place(alice)
    for path in (f"/orders/{order['id']}", f"/orders/{order['id']}/events"):
        assert (await orders.client.get(path, headers=orders.auth(bob))).status_code == 404
    cancel = await orders.client.post(f"/orders/{order['id']}/cancel", headers=orders.auth(bob))
    assert cancel.status_code == 404
    assert (await orders.client.get("/orders", headers=orders.auth(bob))).json()["items"] == []


@EMBEDDED_ONLY
async def test_orders_are_listed_newest_first_with_a_cursor(orders: Any) -> None:
    customer = uuid.uuid4()
    product = await orders.product()
    ids = []
    for _ in range(3):
        await orders.add(customer, product)
        ids.append((await orders.checkout(customer)).json()["id"])
    headers = orders.auth(customer)
    page = (await orders.client.get("/orders?limit=2", headers=headers)).json()
    assert [o["id"] for o in page["items"]] == [ids[2], ids[1]]
    rest = await orders.client.get(f"/orders?limit=2&cursor={page['next_cursor']}", headers=headers)
    assert [o["id"] for o in rest.json()["items"]] == [ids[0]]
    assert rest.json()["next_cursor"] is None


@EMBEDDED_ONLY
async def test_admins_list_every_order_and_customers_may_not(orders: Any) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a, b = await orders.place(alice), await orders.place(bob)
    listed = await orders.client.get("/admin/orders?limit=100", headers=orders.admin())
    assert listed.status_code == 200
    assert {a["id"], b["id"]} <= {o["id"] for o in listed.json()["items"]}
    only_bob = await orders.client.get(f"/admin/orders?customer_id={bob}", headers=orders.admin())
    assert [o["id"] for o in only_bob.json()["items"]] == [b["id"]]
    assert (await orders.client.get("/admin/orders", headers=orders.auth(alice))).status_code == 403


async def test_a_deleted_customer_s_orders_keep_lines_and_totals_but_no_personal_data(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.publish(CustomerDeleted(customer_id=customer), customer, source="customers")

    async def erased() -> bool:
        seen = await orders.order(customer, order["id"])
        assert seen["shipping_address"] is None
        return True

    await _eventually(erased)
    kept = await orders.order(customer, order["id"])
    assert kept["lines"] == order["lines"]
    assert kept["total"] == order["total"]


async def _eventually(probe: Any) -> None:
    from emporium.kit.testing.polling import eventually

    await eventually(probe, timeout=30)
