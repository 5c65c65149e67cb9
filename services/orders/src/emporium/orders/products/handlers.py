"""Keeps ``product_copy`` from ``catalog.events``: the prices carts and checkout use.

Each handler is idempotent twice over: the inbox drops redeliveries, and an event older
than the newest one applied to the product (``source_time``) changes nothing, so even an
out-of-order copy cannot roll a price or a deletion back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import (
    ProductCreated,
    ProductDeleted,
    ProductPriceChanged,
    ProductUpdated,
)
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope
from emporium.orders.models import ProductCopy

__all__ = ["PRODUCT_HANDLERS"]


def _stale(product: ProductCopy | None, at: datetime) -> bool:
    return product is not None and product.source_time > at


async def _upsert(session: AsyncSession, envelope: Envelope) -> None:
    data: ProductCreated | ProductUpdated = (
        envelope.parse(ProductCreated)
        if envelope.type == ProductCreated.type_name()
        else envelope.parse(ProductUpdated)
    )
    product = await session.get(ProductCopy, data.product_id)
    if _stale(product, envelope.time):
        return
    if product is None:
        product = ProductCopy(id=data.product_id, deleted=False)
        session.add(product)
    product.sku = data.sku
    product.name = data.name
    product.price_amount = data.price_amount
    product.currency = data.currency
    product.source_time = envelope.time


async def _price_changed(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.parse(ProductPriceChanged)
    product = await session.get(ProductCopy, data.product_id)
    # Unknown product: its ProductCreated carries the price; nothing to hang this on yet.
    if product is None or _stale(product, envelope.time):
        return
    product.price_amount = data.new_amount
    product.currency = data.currency
    product.source_time = envelope.time


async def _deleted(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.parse(ProductDeleted)
    product = await session.get(ProductCopy, data.product_id)
    if product is None or _stale(product, envelope.time):
        return
    product.deleted = True
    product.source_time = envelope.time


PRODUCT_HANDLERS: Mapping[str, Handler] = {
    ProductCreated.type_name(): _upsert,
    ProductUpdated.type_name(): _upsert,
    ProductPriceChanged.type_name(): _price_changed,
    ProductDeleted.type_name(): _deleted,
}
