"""Amounts as large as catalog accepts (10**12 minor units) are stored and charged whole."""

from __future__ import annotations

import uuid
from typing import Any

#: Catalog's ceiling for a price (product/schemas.py: Money.amount ``le=10**12``).
CATALOG_MAX_PRICE = 10**12


async def test_a_product_at_catalogs_highest_price_can_be_bought(orders: Any) -> None:
    # 32-bit columns refused it: the event was dead-lettered and the product never known.
    product_id = await orders.product(price=CATALOG_MAX_PRICE)
    customer = uuid.uuid4()
    added = await orders.add(customer, product_id, 3)
    assert added.status_code == 200, added.text
    placed = await orders.checkout(customer)
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["total"]["amount"] == 3 * CATALOG_MAX_PRICE
    assert order["lines"][0]["unit_price"]["amount"] == CATALOG_MAX_PRICE
