"""Product rules: unique live SKU, known category, events through the outbox.

Every change adds one to the product's ``version`` in its transaction (the row is locked),
and the events of that change carry it as ``product_version`` (the v2 product events):
consumers keep the highest version, whatever the clocks of the pods that wrote them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.category import repository as categories
from emporium.catalog.category.service import subtree_ids
from emporium.catalog.errors import CategoryNotFound, DuplicateSku, ProductNotFound
from emporium.catalog.invalidation import LISTING, mark_stale, product_family
from emporium.catalog.models import Product as ProductRow
from emporium.catalog.models import Stock
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.product import repository
from emporium.catalog.product.cursor import Cursor, decode_cursor, encode_cursor
from emporium.catalog.product.repository import ListingQuery
from emporium.catalog.product.schemas import Product, ProductCreate, ProductPage, ProductUpdate
from emporium.catalog.product.views import product_view
from emporium.contracts.catalog import (
    ProductCreatedV2,
    ProductDeletedV2,
    ProductPriceChangedV2,
    ProductUpdatedV2,
)
from emporium.kit.outbox import utcnow

__all__ = [
    "ListingParams",
    "create_product",
    "delete_product",
    "get_product",
    "list_products",
    "update_product",
]


async def _check_category(session: AsyncSession, category_id: UUID | None) -> None:
    if category_id is not None and await categories.by_id(session, category_id) is None:
        raise CategoryNotFound(f"no category {category_id}", field="category_id")


async def _flush_or_duplicate(session: AsyncSession, sku: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent insert won the race for the SKU
        raise DuplicateSku(f"a product already has the SKU {sku!r}", sku=sku) from None


def _state(product: ProductRow) -> dict[str, Any]:
    """The product as its created and updated events carry it: all orders prices it by."""
    return {
        "product_id": product.id,
        "product_version": product.version,
        "sku": product.sku,
        "name": product.name,
        "price_amount": product.price_amount,
        "currency": product.currency,
        "category_id": product.category_id,
        "weight_grams": product.weight_grams,
        "tax_class": product.tax_class,
    }


async def create_product(session: AsyncSession, data: ProductCreate) -> ProductRow:
    await _check_category(session, data.category_id)
    if await repository.sku_taken(session, data.sku):
        raise DuplicateSku(f"a product already has the SKU {data.sku!r}", sku=data.sku)
    product = ProductRow(
        sku=data.sku,
        name=data.name,
        description=data.description,
        price_amount=data.price.amount,
        currency=data.price.currency,
        category_id=data.category_id,
        attributes=data.attributes,
        weight_grams=data.weight_grams,
        tax_class=data.tax_class,
        version=1,
    )
    session.add(product)
    await _flush_or_duplicate(session, data.sku)
    session.add(Stock(product_id=product.id, on_hand=0, reserved=0))
    await session.flush()
    await OUTBOX.add(session, ProductCreatedV2(**_state(product)), key=product.id)
    mark_stale(session, LISTING, product_family(product.id))
    return product


async def update_product(session: AsyncSession, product_id: UUID, data: ProductUpdate) -> None:
    product = await repository.live_product(session, product_id, lock=True)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("sku") is None:
        changes.pop("sku", None)
    if "category_id" in changes:
        await _check_category(session, data.category_id)
    if data.sku is not None and data.sku != product.sku:
        if await repository.sku_taken(session, data.sku, other_than=product.id):
            raise DuplicateSku(f"a product already has the SKU {data.sku!r}", sku=data.sku)
        product.sku = data.sku
    old_amount, old_currency = product.price_amount, product.currency
    # An absent or null field is left as it is (none of these may be null).
    for name in ("name", "description", "attributes", "weight_grams", "tax_class"):
        if changes.get(name) is not None:
            setattr(product, name, changes[name])
    if "category_id" in changes:
        product.category_id = data.category_id
    if data.price is not None:
        product.price_amount, product.currency = data.price.amount, data.price.currency
    product.updated_at = utcnow()
    product.version += 1
    await _flush_or_duplicate(session, product.sku)
    await OUTBOX.add(session, ProductUpdatedV2(**_state(product)), key=product.id)
    if (old_amount, old_currency) != (product.price_amount, product.currency):
        await OUTBOX.add(
            session,
            ProductPriceChangedV2(
                product_id=product.id,
                product_version=product.version,
                old_amount=old_amount,
                new_amount=product.price_amount,
                currency=product.currency,
            ),
            key=product.id,
        )
    mark_stale(session, LISTING, product_family(product.id))


async def delete_product(session: AsyncSession, product_id: UUID) -> None:
    product = await repository.live_product(session, product_id, lock=True)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    product.deleted_at = product.updated_at = utcnow()
    product.version += 1
    await session.flush()
    await OUTBOX.add(
        session,
        ProductDeletedV2(product_id=product.id, product_version=product.version),
        key=product.id,
    )
    mark_stale(session, LISTING, product_family(product.id))


async def get_product(session: AsyncSession, product_id: UUID, media_prefix: str) -> Product:
    product = await repository.live_product(session, product_id)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    stock = await repository.stock_of(session, product_id)
    images = await repository.images_of(session, [product_id])
    return product_view(product, stock, images[product_id], media_prefix)


class ListingParams:
    """The query of ``GET /products`` (validated by the endpoint)."""

    def __init__(
        self,
        *,
        category: str | None,
        q: str | None,
        min_price: int | None,
        max_price: int | None,
        in_stock: bool | None,
        sort: str,
        limit: int,
        cursor: str | None,
    ) -> None:
        self.category = category
        self.q = q.strip() if q else None
        self.min_price = min_price
        self.max_price = max_price
        self.in_stock = in_stock
        self.sort = sort
        self.limit = limit
        self.cursor = cursor

    def cache_key(self) -> str:
        return repr(
            (self.category, self.q, self.min_price, self.max_price, self.in_stock, self.sort,
             self.limit, self.cursor)
        )  # fmt: skip


async def list_products(
    session: AsyncSession, params: ListingParams, *, postgres: bool, media_prefix: str
) -> ProductPage:
    after = None
    if params.cursor:
        cursor = decode_cursor(params.cursor, params.sort)
        after = (cursor.value, cursor.last_id)
    category_ids = None
    if params.category:
        category_ids = await subtree_ids(session, params.category)
        if not category_ids:
            return ProductPage(items=[], next_cursor=None)
    query = ListingQuery(
        category_ids=category_ids,
        q=params.q or None,
        min_price=params.min_price,
        max_price=params.max_price,
        in_stock=params.in_stock,
        sort=params.sort,
        after=after,
        limit=params.limit,
    )
    rows = await repository.list_products(session, query, postgres=postgres)
    page, more = rows[: params.limit], len(rows) > params.limit
    images = await repository.images_of(session, [product.id for product, _ in page])
    items = [product_view(p, s, images[p.id], media_prefix) for p, s in page]
    next_cursor = None
    if more and page:
        last = page[-1][0]
        value: str | int | None = None
        if params.sort == "name":
            value = last.name
        elif params.sort in ("price", "-price"):
            value = last.price_amount
        next_cursor = encode_cursor(Cursor(sort=params.sort, value=value, last_id=last.id))
    return ProductPage(items=items, next_cursor=next_cursor)
