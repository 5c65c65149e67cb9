"""Keeps ``product_copy`` from ``catalog.events``: the prices carts and checkout use, and
the facts checkout pricing needs (category, weight in grams, tax class). The v1 events carry
the category only; a copy made from them weighs 0 g and is of the ``standard`` tax class.

Each handler is idempotent twice over: the inbox drops redeliveries, and an event older
than what the copy holds changes nothing, so even an out-of-order copy cannot roll a price
or a deletion back. "Older" is by catalog's per-product version for the v2 events
(``product_version``), and by ``envelope.time`` only for the v1 events without one
(``staleness.is_stale``). Both versions of each event are handled: v1 events stay in the
topic after catalog moved to v2.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import (
    ProductCreated,
    ProductCreatedV2,
    ProductDeleted,
    ProductDeletedV2,
    ProductPriceChanged,
    ProductPriceChangedV2,
    ProductUpdated,
    ProductUpdatedV2,
)
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope
from emporium.orders.models import ProductCopy
from emporium.orders.products.staleness import Held, is_stale, newest_time

__all__ = ["PRODUCT_HANDLERS"]


def _held(product: ProductCopy | None) -> Held | None:
    return None if product is None else Held(version=product.version, time=product.source_time)


def _stale(product: ProductCopy | None, version: int | None, at: datetime) -> bool:
    return is_stale(_held(product), version=version, time=at)


def _stamp(product: ProductCopy, held: Held | None, version: int | None, at: datetime) -> None:
    if version is not None:
        product.version = version
    product.source_time = newest_time(held, at)


async def _upsert(session: AsyncSession, envelope: Envelope) -> None:
    data: ProductCreated | ProductUpdated | ProductCreatedV2 | ProductUpdatedV2
    version: int | None = None
    if envelope.type == ProductCreatedV2.type_name():
        data = envelope.parse(ProductCreatedV2)
        version = data.product_version
    elif envelope.type == ProductUpdatedV2.type_name():
        data = envelope.parse(ProductUpdatedV2)
        version = data.product_version
    elif envelope.type == ProductCreated.type_name():
        data = envelope.parse(ProductCreated)
    else:
        data = envelope.parse(ProductUpdated)
    product = await session.get(ProductCopy, data.product_id)
    if _stale(product, version, envelope.time):
        return
    held = _held(product)
    if product is None:
        product = ProductCopy(id=data.product_id, deleted=False)
        session.add(product)
    product.sku = data.sku
    product.name = data.name
    product.price_amount = data.price_amount
    product.currency = data.currency
    product.category_id = data.category_id
    if isinstance(data, ProductCreatedV2 | ProductUpdatedV2):
        # A v2 event always holds them (its defaults when published before catalog had them,
        # which is what those products were); a v1 event knows nothing of them.
        product.weight_grams = data.weight_grams
        product.tax_class = data.tax_class
    _stamp(product, held, version, envelope.time)


async def _price_changed(session: AsyncSession, envelope: Envelope) -> None:
    data: ProductPriceChanged | ProductPriceChangedV2
    version: int | None = None
    if envelope.type == ProductPriceChangedV2.type_name():
        data = envelope.parse(ProductPriceChangedV2)
        version = data.product_version
    else:
        data = envelope.parse(ProductPriceChanged)
    product = await session.get(ProductCopy, data.product_id)
    # Unknown product: its ProductCreated carries the price; nothing to hang this on yet.
    if product is None or _stale(product, version, envelope.time):
        return
    held = _held(product)
    product.price_amount = data.new_amount
    product.currency = data.currency
    _stamp(product, held, version, envelope.time)


async def _deleted(session: AsyncSession, envelope: Envelope) -> None:
    data: ProductDeleted | ProductDeletedV2
    version: int | None = None
    if envelope.type == ProductDeletedV2.type_name():
        data = envelope.parse(ProductDeletedV2)
        version = data.product_version
    else:
        data = envelope.parse(ProductDeleted)
    product = await session.get(ProductCopy, data.product_id)
    if product is None or _stale(product, version, envelope.time):
        return
    held = _held(product)
    product.deleted = True
    _stamp(product, held, version, envelope.time)


PRODUCT_HANDLERS: Mapping[str, Handler] = {
    ProductCreated.type_name(): _upsert,
    ProductUpdated.type_name(): _upsert,
    ProductPriceChanged.type_name(): _price_changed,
    ProductDeleted.type_name(): _deleted,
    ProductCreatedV2.type_name(): _upsert,
    ProductUpdatedV2.type_name(): _upsert,
    ProductPriceChangedV2.type_name(): _price_changed,
    ProductDeletedV2.type_name(): _deleted,
}
