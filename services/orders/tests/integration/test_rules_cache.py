"""The pricing rules are kept in each process's memory, yet a change through the admin API
prices the very next quote everywhere: on the replica that wrote it and on another one
serving the same database (``rules.cache``: one version number read per quote).

The second replica is the same app on the same database with no background workers, as an
extra HTTP worker process or pod is; nothing tells it of the change but the database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from emporium.contracts.catalog import ProductCreatedV2
from emporium.orders.app import create_service_app

#: The ``orders`` fixture (``tests/conftest.py``): the app on SQLite or PostgreSQL + Kafka.
Orders = Any
BERLIN = {"line1": "1 Unter den Linden", "city": "Berlin", "postal_code": "10117", "country": "DE"}


@pytest.fixture
async def replica(orders: Orders) -> AsyncIterator[AsyncClient]:
    """Another orders app on the same database and bus, serving HTTP only."""
    settings = orders.settings.model_copy(update={"run_workers": False})
    app = create_service_app(settings, keys=orders.mint.keys(), bus=orders.bus)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://replica") as client,
    ):
        yield client


async def _product(orders: Orders, price: int) -> uuid.UUID:
    product_id = uuid.uuid4()
    await orders.publish(
        ProductCreatedV2(
            product_id=product_id,
            product_version=1,
            sku=f"SKU-{product_id.hex[:6]}",
            name="Sencha, 100 g",
            price_amount=price,
            currency="EUR",
        ),
        product_id,
    )
    await orders.until_product(product_id, lambda p: p is not None)
    return product_id


async def _cart(client: AsyncClient, orders: Orders, customer: uuid.UUID) -> dict[str, Any]:
    response = await client.get("/cart", headers=orders.auth(customer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _taxes(cart: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["name"], line["rate_bp"]) for line in cart["tax"]["lines"]]


def _discounts(cart: dict[str, Any]) -> list[tuple[str, int]]:
    return [(d["name"], d["amount"]["amount"]) for d in cart["discounts"]]


async def test_a_rule_written_on_one_replica_prices_the_next_quote_on_another(
    orders: Orders, replica: AsyncClient
) -> None:
    customer, admin = uuid.uuid4(), orders.admin()
    auth = orders.auth(customer)
    product = await _product(orders, price=11_900)
    put = await replica.put(f"/cart/items/{product}", json={"quantity": 1}, headers=auth)
    assert put.status_code == 200, put.text
    moved = await replica.put("/cart/shipping-address", json=BERLIN, headers=auth)
    assert moved.status_code == 200, moved.text
    before = await _cart(replica, orders, customer)  # the replica holds the rules now
    assert (_taxes(before), _discounts(before)) == ([], [])
    assert before["total"]["amount"] == 11_900

    vat = await orders.client.post(
        "/admin/tax-rates", json={"country": "DE", "rate_bp": 1900, "name": "VAT"}, headers=admin
    )
    assert vat.status_code == 201, vat.text
    taxed = await _cart(replica, orders, customer)
    assert _taxes(taxed) == [("VAT", 1900)]
    assert taxed["tax"]["amount"]["amount"] == 1900  # 11,900 gross holds 1,900 of VAT

    sale = await orders.client.post(
        "/admin/promotions",
        json={"name": "Sale", "kind": "percentage", "value": 10},
        headers=admin,
    )
    assert sale.status_code == 201, sale.text
    assert _discounts(await _cart(replica, orders, customer)) == [("Sale", 1000)]

    changed = await orders.client.patch(
        f"/admin/promotions/{sale.json()['id']}", json={"value": 20}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert _discounts(await _cart(replica, orders, customer)) == [("Sale", 2000)]

    # Back on the writer, and the other way round: the replica deletes, the writer sees it.
    gone = await replica.delete(f"/admin/tax-rates/{vat.json()['id']}", headers=admin)
    assert gone.status_code == 204, gone.text
    untaxed = await _cart(orders.client, orders, customer)
    # No tax: the 20 % comes off the whole 11,900 (with VAT it came off the 10,000 net).
    assert (_taxes(untaxed), _discounts(untaxed)) == ([], [("Sale", 2380)])
    assert (await _cart(replica, orders, customer))["total"]["amount"] == 11_900 - 2380


async def test_a_checkout_on_the_replica_is_priced_under_the_rules_just_written(
    orders: Orders, replica: AsyncClient
) -> None:
    customer, admin = uuid.uuid4(), orders.admin()
    auth = orders.auth(customer)
    product = await _product(orders, price=10_000)
    put = await replica.put(f"/cart/items/{product}", json={"quantity": 1}, headers=auth)
    assert put.status_code == 200, put.text
    assert (await _cart(replica, orders, customer))["total"]["amount"] == 10_000
    fixed = await orders.client.post(
        "/admin/promotions",
        json={"name": "Five off", "kind": "fixed", "value": 500, "currency": "EUR"},
        headers=admin,
    )
    assert fixed.status_code == 201, fixed.text
    placed = await replica.post(
        "/orders",
        json={"shipping_address": BERLIN, "payment": {"card_token": "tok_visa"}},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 202, placed.text
    assert placed.json()["total"]["amount"] == 9_500
