"""Product SQL: lookups, the listing query (keyset pages) and images of a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVarTuple
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    SQLColumnExpression,
    String,
    TextClause,
    Uuid,
    and_,
    exists,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from emporium.catalog.models import (
    Product,
    ProductImage,
    ProductOptionValue,
    ProductPrice,
    StockLevel,
    Variant,
    VariantOption,
)
from emporium.catalog.variants.options import OptionFilters

__all__ = [
    "SEARCH_VECTOR",
    "ListingQuery",
    "Price",
    "filtered",
    "images_of",
    "list_products",
    "listing_statement",
    "live_product",
    "sku_taken",
]

_Ts = TypeVarTuple("_Ts")

#: The full-text document of a product; the GIN index of migration 0002 is on this exact
#: expression, which is why the query spells it out as text.
SEARCH_VECTOR = "to_tsvector('english', product.name || ' ' || product.description)"


@dataclass(frozen=True)
class ListingQuery:
    category_ids: list[UUID] | None
    q: str | None
    min_price: int | None
    max_price: int | None
    in_stock: bool | None
    sort: str
    after: tuple[str | int | None, UUID] | None
    limit: int
    #: None: the base currency (the product's own ``price_amount``); else prices in it.
    currency: str | None = None
    options: OptionFilters = field(default_factory=OptionFilters)


@dataclass(frozen=True)
class Price:
    """What a listing sorts and bounds by: an amount and the id that breaks its ties."""

    amount: SQLColumnExpression[int]
    product_id: SQLColumnExpression[UUID]


async def live_product(
    session: AsyncSession, product_id: UUID, *, lock: bool = False
) -> Product | None:
    stmt = select(Product).where(Product.id == product_id, Product.deleted_at.is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def sku_taken(session: AsyncSession, sku: str, *, other_than: UUID | None = None) -> bool:
    stmt = select(Product.id).where(Product.sku == sku, Product.deleted_at.is_(None))
    if other_than is not None:
        stmt = stmt.where(Product.id != other_than)
    return (await session.scalar(stmt.limit(1))) is not None


def _search(q: str, postgres: bool) -> ColumnElement[bool] | TextClause:
    if postgres:
        return text(f"{SEARCH_VECTOR} @@ websearch_to_tsquery('english', :q)").bindparams(q=q)
    # SQLite: every word must appear in the name or the description.
    conditions = []
    for word in q.split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                Product.name.ilike(pattern, escape="\\"),
                Product.description.ilike(pattern, escape="\\"),
            )
        )
    return and_(*conditions) if conditions else text("1 = 1")


def _option_filter(filters: OptionFilters) -> ColumnElement[bool]:
    """Some live variant of the product has one of the asked values of every filtered name.

    One name: a probe of ``product_option_value``'s primary key per candidate product (or,
    if the planner finds the value rare, its ``(name_key, value_key)`` index first). More
    names must hold *on one variant*, which the per-product values cannot tell: one EXISTS
    over ``variant_option``, self-joined per name after the first on the same variant
    (``ix_variant_option_product`` per product, or ``ix_variant_option_term`` first)."""
    terms = list(filters.items())
    if len(terms) == 1:
        name_key, value_keys = terms[0]
        return exists().where(
            ProductOptionValue.product_id == Product.id,
            ProductOptionValue.name_key == name_key,
            ProductOptionValue.value_key.in_(sorted(value_keys)),
        )
    first = aliased(VariantOption, name="vo0")
    inner = select(literal(1)).select_from(first)
    for i, (name_key, value_keys) in enumerate(terms[1:], start=1):
        other = aliased(VariantOption, name=f"vo{i}")
        inner = inner.join(
            other,
            and_(
                other.variant_id == first.variant_id,
                other.name_key == name_key,
                other.value_key.in_(sorted(value_keys)),
            ),
        )
    name_key, value_keys = terms[0]
    inner = inner.where(
        first.product_id == Product.id,
        first.name_key == name_key,
        first.value_key.in_(sorted(value_keys)),
    )
    return inner.exists()


def filtered(
    stmt: Select[*_Ts], query: ListingQuery, *, postgres: bool
) -> tuple[Select[*_Ts], Price]:
    """``stmt`` (over ``product``) restricted to the listing's filters, whatever the sort,
    cursor and limit (the facets count this), and the price the listing sorts by."""
    stmt = stmt.where(Product.deleted_at.is_(None))
    if query.category_ids is not None:
        stmt = stmt.where(Product.category_id.in_(query.category_ids))
    if query.q and postgres:
        # The matches first, through the GIN index, then sorted: left to itself the planner
        # under-estimates how rare a word is and walks the sort index filtering every row.
        matches = (
            select(Product.id.label("id"))
            .where(_search(query.q, postgres), Product.deleted_at.is_(None))
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        stmt = stmt.join(matches, matches.c.id == Product.id)
    elif query.q:
        stmt = stmt.where(_search(query.q, postgres))
    if query.options:
        stmt = stmt.where(_option_filter(query.options))
    price = Price(Product.price_amount, Product.id)
    if query.currency is not None and (
        query.sort in ("price", "-price")
        or query.min_price is not None
        or query.max_price is not None
    ):
        # Priced in another currency: by the product's lowest price in it (a product not
        # sold in it has no row, so drops out of price-sorted and price-bounded pages).
        in_currency = aliased(ProductPrice, name="pp")
        stmt = stmt.join(
            in_currency,
            and_(in_currency.product_id == Product.id, in_currency.currency == query.currency),
        )
        price = Price(in_currency.amount, in_currency.product_id)
    if query.min_price is not None:
        stmt = stmt.where(price.amount >= query.min_price)
    if query.max_price is not None:
        stmt = stmt.where(price.amount <= query.max_price)
    if query.in_stock is not None:
        # In stock: some live variant has a unit available at some location.
        stocked = exists().where(
            Variant.product_id == Product.id,
            Variant.deleted_at.is_(None),
            StockLevel.variant_id == Variant.id,
            StockLevel.on_hand > StockLevel.reserved,
        )
        stmt = stmt.where(stocked if query.in_stock else ~stocked)
    return stmt, price


def _ordered(stmt: Select[Product], query: ListingQuery, price: Price) -> Select[Product]:
    sort, after = query.sort, query.after
    if sort == "newest":  # ids are UUIDv7: their order is creation order
        if after is not None:
            stmt = stmt.where(Product.id < after[1])
        return stmt.order_by(Product.id.desc())
    if sort == "name":
        if after is not None:
            last = tuple_(literal(str(after[0]), String), literal(after[1], Uuid))
            stmt = stmt.where(tuple_(Product.name, Product.id) > last)
        return stmt.order_by(Product.name, Product.id)
    descending = sort == "-price"
    if after is not None:
        key = tuple_(price.amount, price.product_id)
        last = tuple_(literal(int(after[0] or 0), BigInteger), literal(after[1], Uuid))
        stmt = stmt.where(key < last if descending else key > last)
    if descending:
        return stmt.order_by(price.amount.desc(), price.product_id.desc())
    return stmt.order_by(price.amount, price.product_id)


def listing_statement(query: ListingQuery, *, postgres: bool) -> Select[Product]:
    """The SELECT of one page (``limit + 1`` rows: the extra one says a next page exists)."""
    stmt, price = filtered(select(Product), query, postgres=postgres)
    return _ordered(stmt, query, price).limit(query.limit + 1)


async def list_products(
    session: AsyncSession, query: ListingQuery, *, postgres: bool
) -> list[Product]:
    return list(await session.scalars(listing_statement(query, postgres=postgres)))


async def images_of(
    session: AsyncSession, product_ids: Sequence[UUID]
) -> dict[UUID, list[ProductImage]]:
    found: dict[UUID, list[ProductImage]] = {pid: [] for pid in product_ids}
    if not product_ids:
        return found
    stmt = (
        select(ProductImage)
        .where(ProductImage.product_id.in_(product_ids))
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
    )
    for image in await session.scalars(stmt):
        found[image.product_id].append(image)
    return found
