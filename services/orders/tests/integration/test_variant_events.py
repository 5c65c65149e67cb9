"""The variants' read model from catalog's product events v1, v2 and v3, in and out of order.

A v1/v2 event is the product's one variant (the product's id) at the event's price; a v3
event is the whole list of variants with their prices per currency. One version rule holds
for all of them: an event at or below the version held changes nothing (v1: by time).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select

from emporium.contracts.base import EventData
from emporium.contracts.catalog import (
    ProductCreated,
    ProductCreatedV2,
    ProductDeletedV2,
    ProductUpdated,
    ProductUpdatedV2,
    ProductUpdatedV3,
    VariantPrice,
    VariantState,
)
from emporium.kit.bus.base import Record
from emporium.kit.events import Envelope
from emporium.kit.outbox import utcnow
from emporium.orders.models import ProductCopy, VariantCopy, VariantPriceCopy

Seen = dict[UUID, tuple[str, dict[str, str], bool, dict[str, int]]]


async def _publish_at(orders: Any, data: EventData, key: UUID, time: datetime) -> None:
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


async def _variants(orders: Any, product: UUID) -> Seen:
    """The product's variants as orders holds them: sku, options, deleted, prices."""
    async with orders.database.session() as session:
        rows = list(
            await session.scalars(
                select(VariantCopy)
                .where(VariantCopy.product_id == product)
                .execution_options(populate_existing=True)
            )
        )
        prices = list(
            await session.scalars(
                select(VariantPriceCopy).where(
                    VariantPriceCopy.variant_id.in_([r.id for r in rows])
                )
            )
        )
    return {
        r.id: (
            r.sku,
            dict(r.options),
            r.deleted,
            {p.currency: p.amount for p in prices if p.variant_id == r.id},
        )
        for r in rows
    }


def _v3(product: UUID, version: int, variants: list[VariantState], name: str) -> ProductUpdatedV3:
    return ProductUpdatedV3(
        product_id=product,
        product_version=version,
        sku="TEE",
        name=name,
        price_amount=min(p.amount for v in variants for p in v.prices if p.currency == "EUR"),
        currency="EUR",
        options=[{"name": "size", "values": ["S", "M"]}],  # type: ignore[list-item]
        variants=variants,
    )


def _variant(variant: UUID, size: str, eur: int, usd: int | None = None) -> VariantState:
    prices = [VariantPrice(amount=eur, currency="EUR")]
    if usd is not None:
        prices.append(VariantPrice(amount=usd, currency="USD"))
    return VariantState(
        variant_id=variant, sku=f"TEE-{size}", options={"size": size}, prices=prices
    )


async def test_v1_then_v3_then_late_v2_and_v1_keep_the_newest_variants(orders: Any) -> None:
    product, medium, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    await _publish_at(
        orders,
        ProductCreated(
            product_id=product, sku="TEE", name="Tee", price_amount=1000, currency="EUR"
        ),
        product,
        now,
    )
    await orders.until_product(product, lambda p: p is not None)
    assert await _variants(orders, product) == {product: ("TEE", {}, False, {"EUR": 1000})}

    # Options arrive (v3, version 2): the product's own variant becomes size S, M is new.
    await _publish_at(
        orders,
        _v3(
            product,
            2,
            [_variant(product, "S", 1000, 1100), _variant(medium, "M", 1200)],
            name="Tee v3",
        ),
        product,
        now + timedelta(seconds=1),
    )
    await orders.until_product(product, lambda p: p.version == 2)
    expected = {
        product: ("TEE-S", {"size": "S"}, False, {"EUR": 1000, "USD": 1100}),
        medium: ("TEE-M", {"size": "M"}, False, {"EUR": 1200}),
    }
    assert await _variants(orders, product) == expected

    # A v2 of version 1 arriving late, and a v1 older than what is held: both dropped.
    await _publish_at(
        orders,
        ProductUpdatedV2(
            product_id=product,
            product_version=1,
            sku="TEE",
            name="Old",
            price_amount=1,
            currency="EUR",
        ),
        product,
        now + timedelta(hours=1),
    )
    await _publish_at(
        orders,
        ProductUpdated(product_id=product, sku="TEE", name="Older", price_amount=2, currency="EUR"),
        product,
        now - timedelta(hours=1),
    )
    # Version 3 drops M and moves S's USD price: once applied, the late ones were read.
    await _publish_at(
        orders,
        _v3(product, 3, [_variant(product, "S", 1000, 1150)], name="Tee v3"),
        product,
        now + timedelta(seconds=2),
    )
    copy: ProductCopy = await orders.until_product(product, lambda p: p.version == 3)
    assert (copy.name, copy.price_amount) == ("Tee v3", 1000)
    assert await _variants(orders, product) == {
        product: ("TEE-S", {"size": "S"}, False, {"EUR": 1000, "USD": 1150}),
        medium: ("TEE-M", {"size": "M"}, True, {"EUR": 1200}),
    }


async def test_a_v3_before_the_v2_it_replaced_wins_and_deletion_follows(orders: Any) -> None:
    product, large, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    await _publish_at(
        orders,
        _v3(product, 2, [_variant(large, "L", 1500, 1700)], name="Tee"),
        product,
        now,
    )
    await orders.until_product(product, lambda p: p is not None and p.version == 2)
    # The created v2 (version 1) comes after: stale, the product keeps its v3 variants.
    await _publish_at(
        orders,
        ProductCreatedV2(
            product_id=product,
            product_version=1,
            sku="TEE",
            name="Tee",
            price_amount=900,
            currency="EUR",
            weight_grams=250,
        ),
        product,
        now + timedelta(minutes=5),
    )
    await _publish_at(orders, ProductDeletedV2(product_id=product, product_version=3), product, now)
    copy: ProductCopy = await orders.until_product(product, lambda p: p.deleted)
    assert copy.price_amount == 1500
    assert await _variants(orders, product) == {
        large: ("TEE-L", {"size": "L"}, False, {"EUR": 1500, "USD": 1700})
    }


async def test_a_v2_product_is_its_one_variant_with_its_weight(orders: Any) -> None:
    product = uuid.uuid4()
    await orders.publish(
        ProductCreatedV2(
            product_id=product,
            product_version=1,
            sku="MUG",
            name="Mug",
            price_amount=800,
            currency="GBP",
            weight_grams=350,
        ),
        product,
    )
    await orders.until_product(product, lambda p: p is not None)
    assert await _variants(orders, product) == {product: ("MUG", {}, False, {"GBP": 800})}
    async with orders.database.session() as session:
        variant = await session.get(VariantCopy, product)
    assert variant is not None
    assert variant.weight_grams == 350
