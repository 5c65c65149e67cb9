"""Keeps ``product_copy`` and its variants (``variant_copy``, ``variant_price_copy``) from
``catalog.events``: the prices carts and checkout use, and the facts checkout pricing needs
(category, weight in grams, tax class). The v1 events carry the category only; a copy made
from them weighs 0 g and is of the ``standard`` tax class. The v3 created/updated events
carry the product's variants with their prices per currency; a v1 or v2 event is the
product's one variant, of the product's id, at the event's price (``variants.variants_of``).

Each handler is idempotent twice over: the inbox drops redeliveries, and an event older
than what the copy holds changes nothing, so even an out-of-order copy cannot roll a price
or a deletion back. "Older" is by catalog's per-product version for the v2 events
(``product_version``), and by ``envelope.time`` only for the v1 events without one
(``staleness.is_stale``), the same rule for the product and its variants. Every version of
each event is handled: older events stay in the topic after catalog moved on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.catalog import (
    ProductCreated,
    ProductCreatedV2,
    ProductCreatedV3,
    ProductDeleted,
    ProductDeletedV2,
    ProductPriceChanged,
    ProductPriceChangedV2,
    ProductUpdated,
    ProductUpdatedV2,
    ProductUpdatedV3,
)
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope
from emporium.orders.models import ProductCopy
from emporium.orders.products.repository import replace_variants, set_default_variant_price
from emporium.orders.products.staleness import Held, is_stale, newest_time
from emporium.orders.products.variants import ProductEvent, variants_of

__all__ = ["PRODUCT_HANDLERS"]


def _held(product: ProductCopy | None) -> Held | None:
    return None if product is None else Held(version=product.version, time=product.source_time)


def _stale(product: ProductCopy | None, version: int | None, at: datetime) -> bool:
    return is_stale(_held(product), version=version, time=at)


def _stamp(product: ProductCopy, held: Held | None, version: int | None, at: datetime) -> None:
    if version is not None:
        product.version = version
    product.source_time = newest_time(held, at)


#: The created/updated events by their type name: parse with the class of the version.
_UPSERTS: Mapping[str, type[ProductEvent]] = {
    cls.type_name(): cls
    for cls in (
        ProductCreated,
        ProductUpdated,
        ProductCreatedV2,
        ProductUpdatedV2,
        ProductCreatedV3,
        ProductUpdatedV3,
    )
}


async def _upsert(session: AsyncSession, envelope: Envelope) -> None:
    data: ProductEvent = envelope.parse(_UPSERTS[envelope.type])
    version = None if isinstance(data, ProductCreated | ProductUpdated) else data.product_version
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
    if not isinstance(data, ProductCreated | ProductUpdated):
        # A v2 event always holds them (its defaults when published before catalog had them,
        # which is what those products were); a v1 event knows nothing of them.
        product.weight_grams = data.weight_grams
        product.tax_class = data.tax_class
    _stamp(product, held, version, envelope.time)
    await replace_variants(session, product.id, variants_of(data), version)


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
    await set_default_variant_price(session, product.id, data.new_amount, data.currency)


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
    ProductCreatedV3.type_name(): _upsert,
    ProductUpdatedV3.type_name(): _upsert,
    ProductPriceChangedV2.type_name(): _price_changed,
    ProductDeletedV2.type_name(): _deleted,
}
