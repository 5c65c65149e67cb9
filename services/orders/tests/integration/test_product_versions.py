"""The product read model orders catalog's events by product_version, not by clocks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from emporium.contracts.base import EventData
from emporium.contracts.catalog import (
    ProductCreatedV2,
    ProductDeletedV2,
    ProductPriceChanged,
    ProductPriceChangedV2,
    ProductUpdatedV2,
)
from emporium.kit.bus.base import Record
from emporium.kit.events import Envelope
from emporium.kit.outbox import utcnow


async def _publish_at(orders: Any, data: EventData, key: UUID, time: datetime) -> None:
    """Publish as a catalog pod whose clock reads ``time``."""
    envelope = Envelope(
        type=data.type_name(),
        source="catalog",
        key=str(key),
        data=data.model_dump(mode="json"),
        time=time,
    )
    await orders.bus.publish(
        [Record(orders.settings.catalog_topic, envelope.to_bytes(), str(key).encode())]
    )


async def test_a_higher_version_from_a_slow_clock_wins_and_a_lower_one_is_dropped(
    orders: Any,
) -> None:
    product, now = uuid.uuid4(), utcnow()
    created = ProductCreatedV2(
        product_id=product,
        product_version=1,
        sku="VER-1",
        name="Mug",
        price_amount=1000,
        currency="EUR",
    )
    await _publish_at(orders, created, product, now)
    await orders.until_product(product, lambda p: p is not None)
    # Version 3 from a pod whose clock is an hour behind: newer, so applied.
    await _publish_at(
        orders,
        ProductPriceChangedV2(
            product_id=product, product_version=3, old_amount=1000, new_amount=1300, currency="EUR"
        ),
        product,
        now - timedelta(hours=1),
    )
    applied = await orders.until_product(product, lambda p: p.price_amount == 1300)
    assert applied.version == 3
    # Version 2 arriving after it, from a pod whose clock is an hour ahead: dropped.
    await _publish_at(
        orders,
        ProductUpdatedV2(
            product_id=product,
            product_version=2,
            sku="VER-1",
            name="Old name",
            price_amount=1200,
            currency="EUR",
        ),
        product,
        now + timedelta(hours=1),
    )
    # An old v1 event (no version) with an old time: the time rule drops it too.
    await _publish_at(
        orders,
        ProductPriceChanged(product_id=product, old_amount=1000, new_amount=1, currency="EUR"),
        product,
        now - timedelta(hours=2),
    )
    # A later event on the same key: once it is applied, the stale ones were read before it.
    await _publish_at(orders, ProductDeletedV2(product_id=product, product_version=4), product, now)
    latest = await orders.until_product(product, lambda p: p.deleted)
    assert (latest.name, latest.price_amount, latest.version) == ("Mug", 1300, 4)
