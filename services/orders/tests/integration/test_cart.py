"""Carts: durable per customer, current prices, flags for repriced and deleted products."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from emporium.contracts.catalog import ProductDeleted, ProductPriceChanged, ProductUpdated
from emporium.kit.bus.base import Record
from emporium.kit.events import Envelope

#: HTTP rules with no saga in them: the embedded backend is enough (and quick).
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@EMBEDDED_ONLY
async def test_a_new_customer_has_an_empty_cart(orders: Any) -> None:
    response = await orders.client.get("/cart", headers=orders.auth(uuid.uuid4()))
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert response.json()["total"]["amount"] == 0


async def test_setting_quantities_prices_the_cart_from_the_read_model(orders: Any) -> None:
    customer = uuid.uuid4()
    mug = await orders.product(price=1250)
    tee = await orders.product(price=1999)
    assert (await orders.add(customer, mug, 2)).status_code == 200
    response = await orders.add(customer, tee, 1)
    assert response.status_code == 200
    cart = response.json()
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [
        (str(mug), 2),
        (str(tee), 1),
    ]
    assert cart["items"][0]["unit_price"] == {"amount": 1250, "currency": "EUR"}
    assert cart["items"][0]["line_total"] == {"amount": 2500, "currency": "EUR"}
    assert cart["total"] == {"amount": 4499, "currency": "EUR"}

    again = await orders.add(customer, mug, 5)  # setting, not adding
    assert again.json()["items"][0]["quantity"] == 5


async def test_a_quantity_change_answers_the_cart_as_the_next_view_shows_it(
    orders: Any,
) -> None:
    # The PUT builds its answer from the rows it read under the cart lock: the other lines
    # (a repriced one, a deleted one) and their order must be the view's all the same.
    customer = uuid.uuid4()
    mug, tee, cap = [await orders.product(price=p) for p in (1250, 1999, 700)]
    for product in (mug, tee, cap):
        assert (await orders.add(customer, product)).status_code == 200
    await orders.publish(
        ProductPriceChanged(product_id=mug, old_amount=1250, new_amount=1300, currency="EUR"),
        mug,
    )
    await orders.publish(ProductDeleted(product_id=cap), cap)
    await orders.until_product(mug, lambda p: p.price_amount == 1300)
    await orders.until_product(cap, lambda p: p.deleted)
    answer = await orders.add(customer, tee, 3)
    assert answer.status_code == 200
    view = await orders.client.get("/cart", headers=orders.auth(customer))
    assert answer.json() == view.json()
    items = answer.json()["items"]
    assert [i["product_id"] for i in items] == [str(mug), str(tee), str(cap)]
    assert [i["price_changed"] for i in items] == [True, False, False]
    assert [i["available"] for i in items] == [True, True, False]
    assert answer.json()["total"]["amount"] == 1300 + 3 * 1999


@EMBEDDED_ONLY
@pytest.mark.parametrize("quantity", [0, 100, -1])
async def test_quantities_outside_1_to_99_are_refused(orders: Any, quantity: int) -> None:
    product = await orders.product()
    response = await orders.add(uuid.uuid4(), product, quantity)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@EMBEDDED_ONLY
async def test_a_product_the_read_model_does_not_know_is_404(orders: Any) -> None:
    response = await orders.add(uuid.uuid4(), uuid.uuid4(), 1)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/product-not-found")


@EMBEDDED_ONLY
async def test_removing_an_item_and_clearing_the_cart(orders: Any) -> None:
    customer = uuid.uuid4()
    a, b = await orders.product(), await orders.product()
    await orders.add(customer, a)
    await orders.add(customer, b)
    headers = orders.auth(customer)
    response = await orders.client.delete(f"/cart/items/{a}", headers=headers)
    assert response.status_code == 200
    assert [i["product_id"] for i in response.json()["items"]] == [str(b)]
    assert (await orders.client.delete("/cart", headers=headers)).status_code == 204
    assert (await orders.client.get("/cart", headers=headers)).json()["items"] == []


@EMBEDDED_ONLY
async def test_a_customer_never_sees_another_customers_cart(orders: Any) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await orders.add(alice, await orders.product())
    bob_cart = await orders.client.get("/cart", headers=orders.auth(bob))
    assert bob_cart.json()["items"] == []


@EMBEDDED_ONLY
async def test_the_cart_needs_a_signed_in_customer(orders: Any) -> None:
    assert (await orders.client.get("/cart")).status_code == 401


async def test_a_repriced_product_shows_the_new_price_flagged(orders: Any) -> None:
    customer = uuid.uuid4()
    product = await orders.product(price=1000)
    await orders.add(customer, product, 2)
    await orders.publish(
        ProductPriceChanged(product_id=product, old_amount=1000, new_amount=1200, currency="EUR"),
        product,
    )
    await orders.until_product(product, lambda p: p.price_amount == 1200)
    item = (await orders.client.get("/cart", headers=orders.auth(customer))).json()["items"][0]
    assert item["unit_price"]["amount"] == 1200
    assert item["line_total"]["amount"] == 2400
    assert item["price_changed"] is True
    assert item["previous_unit_price"]["amount"] == 1000
    # Setting the quantity again is the customer seeing the new price: the flag clears.
    item = (await orders.add(customer, product, 2)).json()["items"][0]
    assert item["price_changed"] is False


async def test_a_deleted_product_is_flagged_left_out_of_the_total_and_blocks_checkout(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    kept, gone = await orders.product(price=500), await orders.product(price=700)
    await orders.add(customer, kept)
    await orders.add(customer, gone)
    await orders.publish(ProductDeleted(product_id=gone), gone)
    await orders.until_product(gone, lambda p: p.deleted)
    cart = (await orders.client.get("/cart", headers=orders.auth(customer))).json()
    flags = {i["product_id"]: i["available"] for i in cart["items"]}
    assert flags == {str(kept): True, str(gone): False}
    assert cart["total"]["amount"] == 500
    response = await orders.checkout(customer)
    assert response.status_code == 409
    assert response.json()["product_ids"] == [str(gone)]
    assert (await orders.add(customer, gone, 1)).status_code == 404


async def test_an_update_older_than_the_one_applied_changes_nothing(orders: Any) -> None:
    product = await orders.product(price=1000)
    copy = await orders.until_product(product, lambda p: p is not None)
    stale = ProductUpdated(
        product_id=product, sku=copy.sku, name="Old name", price_amount=1, currency="EUR"
    )
    await orders.publish(
        ProductPriceChanged(product_id=product, old_amount=1000, new_amount=1100, currency="EUR"),
        product,
    )
    await orders.until_product(product, lambda p: p.price_amount == 1100)
    older = Envelope(
        type=stale.type_name(),
        source="catalog",
        key=str(product),
        data=stale.model_dump(mode="json"),
        time=copy.source_time,  # older than the price change just applied
    )
    await orders.bus.publish(
        [Record(orders.settings.catalog_topic, older.to_bytes(), str(product).encode())]
    )
    # A later event of the same key: once it is applied, the stale one was read before it.
    await orders.publish(
        ProductPriceChanged(product_id=product, old_amount=1100, new_amount=1150, currency="EUR"),
        product,
    )
    latest = await orders.until_product(product, lambda p: p.price_amount == 1150)
    assert latest.name == copy.name
