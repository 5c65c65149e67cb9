"""The product copy keeps what checkout pricing needs: category, weight and tax class."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from emporium.contracts.base import EventData
from emporium.contracts.catalog import (
    ProductCreated,
    ProductCreatedV2,
    ProductDeletedV2,
    ProductUpdatedV2,
)
from emporium.kit.bus.base import Record
from emporium.kit.events import Envelope


async def _publish(orders: Any, data: EventData, key: UUID, *, without: set[str]) -> None:
    """Publish ``data`` as a catalog that did not have the fields ``without`` yet."""
    envelope = Envelope(
        type=data.type_name(),
        source="catalog",
        key=str(key),
        data=data.model_dump(mode="json", exclude=without),
    )
    await orders.bus.publish(
        [Record(orders.settings.catalog_topic, envelope.to_bytes(), str(key).encode())]
    )


def _facts(copy: Any) -> tuple[UUID | None, int, str]:
    return copy.category_id, copy.weight_grams, copy.tax_class


def _state(
    kind: type[ProductCreatedV2 | ProductUpdatedV2], product: UUID, version: int, **facts: Any
) -> ProductCreatedV2 | ProductUpdatedV2:
    """A created or updated event of ``product`` at ``version``, with the facts given."""
    return kind(
        product_id=product,
        product_version=version,
        sku=f"FACTS-{product.hex[:6]}",
        name="Cast-iron pan",
        price_amount=4500,
        currency="EUR",
        **facts,
    )


async def test_a_product_event_with_the_facts_gives_them_to_the_copy(orders: Any) -> None:
    product, category = uuid.uuid4(), uuid.uuid4()
    created = _state(
        ProductCreatedV2, product, 1, category_id=category, weight_grams=2300, tax_class="reduced"
    )
    await orders.publish(created, product)
    copy = await orders.until_product(product, lambda p: p is not None)
    assert _facts(copy) == (category, 2300, "reduced")
    # An update holds the whole state: a product moved out of its category, re-weighed.
    updated = _state(ProductUpdatedV2, product, 2, weight_grams=2100, tax_class="standard")
    await orders.publish(updated, product)
    copy = await orders.until_product(product, lambda p: p.version == 2)
    assert _facts(copy) == (None, 2100, "standard")


async def test_events_published_before_the_facts_give_the_defaults(orders: Any) -> None:
    category = uuid.uuid4()
    # A v2 event from a catalog that did not send weight and tax class yet.
    old_v2 = uuid.uuid4()
    created = _state(ProductCreatedV2, old_v2, 1, category_id=category)
    await _publish(orders, created, old_v2, without={"weight_grams", "tax_class"})
    # A v1 event: it carries the category and nothing of the rest.
    old_v1 = uuid.uuid4()
    await orders.publish(
        ProductCreated(
            product_id=old_v1,
            sku="OLD-V1",
            name="Teapot",
            price_amount=2000,
            currency="EUR",
            category_id=category,
        ),
        old_v1,
    )
    for product in (old_v2, old_v1):
        copy = await orders.until_product(product, lambda p: p is not None)
        assert _facts(copy) == (category, 0, "standard")


async def test_a_lower_version_does_not_roll_the_facts_back(orders: Any) -> None:
    product = uuid.uuid4()
    newer = _state(ProductUpdatedV2, product, 3, weight_grams=7500, tax_class="furniture")
    await orders.publish(newer, product)
    await orders.until_product(product, lambda p: p is not None and p.version == 3)
    older = _state(ProductUpdatedV2, product, 2, weight_grams=100, tax_class="standard")
    await orders.publish(older, product)  # late and older: dropped
    # A later event on the same key: once it is applied, the stale one was read before it.
    await orders.publish(ProductDeletedV2(product_id=product, product_version=4), product)
    latest = await orders.until_product(product, lambda p: p.deleted)
    assert (latest.weight_grams, latest.tax_class, latest.version) == (7500, "furniture", 4)
