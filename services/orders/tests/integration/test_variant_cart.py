"""Carts and orders per variant and currency (issue 14), on SQLite and PostgreSQL.

The cart's first item fixes its currency; a variant without a price in it is not
purchasable (422); a product with options must be bought by variant; a product without
options keeps being bought by its id; an order keeps its currency, amounts and the
variant's SKU and options whatever catalog changes later.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from emporium.contracts.catalog import (
    OptionState,
    ProductCreatedV3,
    ProductUpdatedV3,
    VariantPrice,
    VariantState,
)


def _tee(product: UUID, small: UUID, medium: UUID, version: int, small_usd: int) -> Any:
    cls = ProductCreatedV3 if version == 1 else ProductUpdatedV3
    return cls(
        product_id=product,
        product_version=version,
        sku="TEE",
        name="Tee",
        price_amount=1000,
        currency="EUR",
        options=[OptionState(name="size", values=["S", "M"])],
        variants=[
            VariantState(
                variant_id=small,
                sku="TEE-S",
                options={"size": "S"},
                prices=[
                    VariantPrice(amount=1000, currency="EUR"),
                    VariantPrice(amount=small_usd, currency="USD"),
                ],
                weight_grams=200,
            ),
            VariantState(
                variant_id=medium,
                sku="TEE-M",
                options={"size": "M"},
                prices=[VariantPrice(amount=1200, currency="EUR")],
                weight_grams=220,
            ),
        ],
    )


async def _put(orders: Any, customer: UUID, item: UUID, body: dict[str, Any]) -> Any:
    return await orders.client.put(f"/cart/items/{item}", json=body, headers=orders.auth(customer))


async def test_a_variant_bought_in_usd_keeps_its_currency_amounts_sku_and_options(
    orders: Any,
) -> None:
    product, small, medium, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await orders.publish(_tee(product, small, medium, 1, 1100), product)
    await orders.until_product(product, lambda p: p is not None)

    by_product = await _put(orders, customer, product, {"quantity": 1})
    assert by_product.status_code == 422, by_product.text
    assert by_product.json()["type"].endswith("/variant-required")
    not_in_usd = await _put(orders, customer, medium, {"quantity": 1, "currency": "USD"})
    assert not_in_usd.status_code == 422, not_in_usd.text
    assert not_in_usd.headers["content-type"] == "application/problem+json"
    assert not_in_usd.json()["type"].endswith("/not-sold-in-currency")
    assert (await orders.client.get("/cart", headers=orders.auth(customer))).json()["items"] == []

    added = await _put(orders, customer, small, {"quantity": 2, "currency": "usd"})
    assert added.status_code == 200, added.text
    [line] = added.json()["items"]
    assert (line["product_id"], line["variant_id"]) == (str(product), str(small))
    assert (line["sku"], line["options"]) == ("TEE-S", {"size": "S"})
    assert line["unit_price"] == {"amount": 1100, "currency": "USD"}
    assert added.json()["total"] == {"amount": 2200, "currency": "USD"}
    # The cart is in USD now: M (EUR only) is not purchasable in it, nor is another currency.
    medium_later = await _put(orders, customer, medium, {"quantity": 1})
    assert medium_later.status_code == 422
    assert medium_later.json()["type"].endswith("/not-sold-in-currency")
    other = await _put(orders, customer, medium, {"quantity": 1, "currency": "EUR"})
    assert other.status_code == 422
    assert other.json()["type"].endswith("/cart-currency-fixed")
    no_gbp = await _put(orders, customer, small, {"quantity": 1, "currency": "GBP"})
    assert no_gbp.status_code == 422  # its only item may change the currency, not to GBP
    assert no_gbp.json()["type"].endswith("/not-sold-in-currency")

    placed = await orders.checkout(customer)
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["total"] == {"amount": 2200, "currency": "USD"}
    [ordered] = order["lines"]
    assert (ordered["variant_id"], ordered["sku"], ordered["options"]) == (
        str(small),
        "TEE-S",
        {"size": "S"},
    )
    assert ordered["unit_price"] == {"amount": 1100, "currency": "USD"}

    # Catalog reprices S in USD: the order keeps what it was placed at.
    await orders.publish(_tee(product, small, medium, 2, 1500), product)
    await orders.until_product(product, lambda p: p.version == 2)
    kept = await orders.order(customer, order["id"])
    assert kept["total"] == {"amount": 2200, "currency": "USD"}
    assert kept["lines"][0]["unit_price"] == {"amount": 1100, "currency": "USD"}
    assert kept["lines"][0]["options"] == {"size": "S"}


async def test_a_product_without_options_is_still_bought_by_its_id(orders: Any) -> None:
    customer = uuid.uuid4()
    mug = await orders.product(price=1250, sku="MUG-1")
    added = await orders.add(customer, mug, 2)
    assert added.status_code == 200, added.text
    [line] = added.json()["items"]
    assert (line["product_id"], line["variant_id"], line["options"]) == (str(mug), str(mug), {})
    assert line["unit_price"] == {"amount": 1250, "currency": "EUR"}
    placed = await orders.checkout(customer)
    assert placed.status_code == 202, placed.text
    [ordered] = placed.json()["lines"]
    assert (ordered["variant_id"], ordered["sku"], ordered["options"]) == (str(mug), "MUG-1", {})
    # Not sold in another currency: the first item asking for it is refused.
    refused = await _put(orders, uuid.uuid4(), mug, {"quantity": 1, "currency": "JPY"})
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/not-sold-in-currency")
    bad = await _put(orders, uuid.uuid4(), mug, {"quantity": 1, "currency": "XYZ"})
    assert bad.status_code == 422


async def test_the_first_variant_has_the_product_id_and_is_bought_by_it(orders: Any) -> None:
    """Catalog gives a product's first variant the product's id: with options too, that id
    is the variant while it lives (the product page's picker sends it)."""
    product, medium, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await orders.publish(_tee(product, product, medium, 1, 1100), product)
    await orders.until_product(product, lambda p: p is not None)
    added = await _put(orders, customer, product, {"quantity": 1})
    assert added.status_code == 200, added.text
    [line] = added.json()["items"]
    assert (line["variant_id"], line["options"]) == (str(product), {"size": "S"})
    assert line["unit_price"] == {"amount": 1000, "currency": "EUR"}
