"""Product rules: unique live SKU, known category, options, events through the outbox.

Every change adds one to the product's ``version`` in its transaction (the row is locked),
and the events of that change carry it as ``product_version`` (the v2 product events):
consumers keep the highest version, whatever the clocks of the pods that wrote them.

A product is sold as its variants (``variants.service``); its own SKU, weight and price are
its first variant's (the one with the product's id), so a ``PATCH`` of them changes that
variant too, and its ``price_amount`` is then the lowest of its variants' base prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.category import repository as categories
from emporium.catalog.category.service import subtree_ids
from emporium.catalog.errors import (
    CategoryNotFound,
    DuplicateSku,
    InvalidOptions,
    ProductNotFound,
)
from emporium.catalog.invalidation import LISTING, mark_stale, product_family
from emporium.catalog.models import Product as ProductRow
from emporium.catalog.models import Variant as VariantRow
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.product import facets_sql, repository
from emporium.catalog.product.cursor import Cursor, decode_cursor, encode_cursor
from emporium.catalog.product.events import product_state, publish_update
from emporium.catalog.product.repository import ListingQuery
from emporium.catalog.product.schemas import (
    ListingFacets,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
)
from emporium.catalog.product.views import Details, product_view
from emporium.catalog.variants import options as rules
from emporium.catalog.variants import repository as variants
from emporium.catalog.variants import service as variant_rules
from emporium.catalog.variants.defaults import create_default_variant
from emporium.catalog.variants.schemas import OptionIn
from emporium.contracts.catalog import ProductCreatedV2, ProductDeletedV2
from emporium.kit.errors import Unprocessable
from emporium.kit.outbox import utcnow

__all__ = [
    "ListingParams",
    "create_product",
    "delete_product",
    "get_product",
    "list_products",
    "listing_facets",
    "listing_query",
    "product_views",
    "update_product",
]


async def _check_category(session: AsyncSession, category_id: UUID | None) -> None:
    if category_id is not None and await categories.by_id(session, category_id) is None:
        raise CategoryNotFound(f"no category {category_id}", field="category_id")


async def _check_sku(session: AsyncSession, sku: str, product_id: UUID | None = None) -> None:
    # A product's SKU is its first variant's: no other product or variant may have it.
    if await repository.sku_taken(session, sku, other_than=product_id) or (
        await variants.sku_taken(session, sku, other_than=product_id)
    ):
        raise DuplicateSku(f"a product already has the SKU {sku!r}", sku=sku)


async def _flush_or_duplicate(session: AsyncSession, sku: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent insert won the race for the SKU
        raise DuplicateSku(f"a product already has the SKU {sku!r}", sku=sku) from None


def _in_base(currency: str, base_currency: str) -> None:
    if currency != base_currency:
        raise Unprocessable(
            f"a product's price is in the shop's base currency {base_currency}; "
            "prices in other currencies are its variants'",
            field="body.price.currency",
        )


def _options(given: Sequence[OptionIn]) -> tuple[rules.ProductOption, ...]:
    try:
        return OptionIn.check_all(list(given))
    except rules.OptionError as error:
        raise InvalidOptions(error.message, field="body." + error.field) from None


async def create_product(
    session: AsyncSession, data: ProductCreate, base_currency: str = "EUR"
) -> ProductRow:
    _in_base(data.price.currency, base_currency)
    options = _options(data.options)
    await _check_category(session, data.category_id)
    await _check_sku(session, data.sku)
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
    await create_default_variant(session, product)
    if options:
        await variant_rules.set_options(session, product, options)
    await OUTBOX.add(session, ProductCreatedV2(**product_state(product)), key=product.id)
    mark_stale(session, LISTING, product_family(product.id))
    return product


async def _carry_to_first_variant(
    session: AsyncSession, product: ProductRow, data: ProductUpdate, base_currency: str
) -> None:
    """A changed SKU, weight or price of the product is its first variant's."""
    first = await variants.live_variant(session, product.id)
    if first is None:
        if data.price is not None:
            raise Unprocessable(
                "the product's first variant was deleted: set prices on its variants",
                field="body.price",
            )
        return
    first.sku = product.sku
    first.weight_grams = product.weight_grams
    first.updated_at = utcnow()
    if data.price is not None:
        prices = (await variants.prices_of(session, [first.id]))[first.id]
        prices[base_currency] = data.price.amount
        await variants.replace_prices(session, first.id, prices)


async def update_product(
    session: AsyncSession, product_id: UUID, data: ProductUpdate, base_currency: str = "EUR"
) -> None:
    product = await repository.live_product(session, product_id, lock=True)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    if data.price is not None:
        _in_base(data.price.currency, base_currency)
    options = None if data.options is None else _options(data.options)
    changes = data.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await _check_category(session, data.category_id)
    if data.sku is not None and data.sku != product.sku:
        await _check_sku(session, data.sku, product.id)
        product.sku = data.sku
    old = (product.price_amount, product.currency)
    # An absent or null field is left as it is (none of these may be null).
    for name in ("name", "description", "attributes", "weight_grams", "tax_class"):
        if changes.get(name) is not None:
            setattr(product, name, changes[name])
    if "category_id" in changes:
        product.category_id = data.category_id
    await _carry_to_first_variant(session, product, data, base_currency)
    if options is not None:
        await variant_rules.set_options(session, product, options)
    await _flush_or_duplicate(session, product.sku)
    await variant_rules.refresh_prices(session, product, base_currency)
    await publish_update(session, product, old)


async def delete_product(session: AsyncSession, product_id: UUID) -> None:
    product = await repository.live_product(session, product_id, lock=True)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    product.deleted_at = product.updated_at = utcnow()
    product.version += 1
    await variants.soft_delete(
        session, await variants.live_variants(session, [product.id]), product.deleted_at
    )
    await session.flush()
    await OUTBOX.add(
        session,
        ProductDeletedV2(product_id=product.id, product_version=product.version),
        key=product.id,
    )
    mark_stale(session, LISTING, product_family(product.id))


async def product_views(
    session: AsyncSession, products: Sequence[ProductRow], currency: str, media_prefix: str
) -> list[Product]:
    """The answers of ``products`` in ``currency``, read in four statements whatever the
    number of products and variants (live variants with their price and units, the
    products' options, the variants' option values, images); three when none of them has
    options (a variant shows only its product's options, so their values are not read)."""
    ids = [product.id for product in products]
    sold = await variants.sold_variants(session, ids, currency)
    options = await variants.options_of(session, ids)
    with_options = [pid for pid in ids if options[pid]]
    rows = await variants.option_rows_of_products(session, with_options)
    images = await repository.images_of(session, ids)
    named = {vid: {k: (row.name, row.value) for k, row in rows[vid].items()} for vid in rows}
    prices = {s.variant.id: {currency: s.amount} for s in sold if s.amount is not None}
    available = {s.variant.id: s.units for s in sold}
    of_product: dict[UUID, list[VariantRow]] = {pid: [] for pid in ids}
    for s in sold:
        of_product[s.variant.product_id].append(s.variant)
    return [
        product_view(
            product,
            Details(
                options=options[product.id],
                variants=of_product[product.id],
                variant_options=named,
                prices=prices,
                available=available,
                images=images[product.id],
            ),
            currency,
            media_prefix,
        )
        for product in products
    ]


async def get_product(
    session: AsyncSession, product_id: UUID, media_prefix: str, currency: str = "EUR"
) -> Product:
    product = await repository.live_product(session, product_id)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    return (await product_views(session, [product], currency, media_prefix))[0]


class ListingParams:
    """The query of ``GET /products`` (validated by the endpoint; ``currency`` canonical,
    ``options`` parsed once by ``parse_option_filters``)."""

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
        currency: str = "EUR",
        options: rules.OptionFilters | None = None,
    ) -> None:
        self.category = category
        self.q = q.strip() if q else None
        self.min_price = min_price
        self.max_price = max_price
        self.in_stock = in_stock
        self.sort = sort
        self.limit = limit
        self.cursor = cursor
        self.currency = currency
        self.options = options or rules.OptionFilters()

    def facets_key(self) -> str:
        """What the facets depend on: every page and sort of one filter shares them."""
        return repr(
            ("facets", self.category, self.q, self.min_price, self.max_price, self.in_stock,
             self.currency, sorted((n, sorted(v)) for n, v in self.options.items()))
        )  # fmt: skip

    def cache_key(self) -> str:
        return repr((self.facets_key(), self.sort, self.limit, self.cursor))


async def listing_query(
    session: AsyncSession, params: ListingParams, base_currency: str
) -> ListingQuery | None:
    """The listing's query (None: the category names nothing, so nothing matches). Made
    once per listing: its facets and its page share it (and its category lookup)."""
    after = None
    if params.cursor:
        cursor = decode_cursor(params.cursor, params.sort)
        after = (cursor.value, cursor.last_id)
    category_ids = None
    if params.category:
        category_ids = await subtree_ids(session, params.category)
        if not category_ids:
            return None
    return ListingQuery(
        category_ids=category_ids,
        q=params.q or None,
        min_price=params.min_price,
        max_price=params.max_price,
        in_stock=params.in_stock,
        sort=params.sort,
        after=after,
        limit=params.limit,
        currency=None if params.currency == base_currency else params.currency,
        options=params.options,
    )


async def listing_facets(
    session: AsyncSession, query: ListingQuery | None, *, postgres: bool
) -> ListingFacets:
    if query is None:
        return ListingFacets(categories=[], options={})
    facets = await facets_sql.listing_facets(session, query, postgres=postgres)
    return ListingFacets.model_validate(facets.to_api())


async def list_products(
    session: AsyncSession,
    params: ListingParams,
    query: ListingQuery | None,
    *,
    postgres: bool,
    media_prefix: str,
    facets: ListingFacets,
) -> ProductPage:
    if query is None:
        return ProductPage(items=[], next_cursor=None, facets=facets)
    rows = await repository.list_products(session, query, postgres=postgres)
    page, more = rows[: params.limit], len(rows) > params.limit
    items = await product_views(session, page, params.currency, media_prefix)
    next_cursor = None
    if more and page:
        last = page[-1]
        value: str | int | None = None
        if params.sort == "name":
            value = last.name
        elif params.sort in ("price", "-price"):
            # The price sorted by: the product's own, or its lowest in the asked currency.
            price = items[-1].price
            value = last.price_amount if query.currency is None or price is None else price.amount
        next_cursor = encode_cursor(Cursor(sort=params.sort, value=value, last_id=last.id))
    return ProductPage(items=items, next_cursor=next_cursor, facets=facets)
