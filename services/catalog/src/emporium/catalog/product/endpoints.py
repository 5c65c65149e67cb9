"""Product HTTP endpoints: the public listing and detail (cached), admin writes.

A listing is cached per generation of ``listing`` and of each product in it
(``answers.cached_listing``): a stock change of one product misses only the pages that
show it."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from emporium.catalog.answers import Listed, cached_answer, cached_listing
from emporium.catalog.dependencies import (
    AdminDep,
    CacheDep,
    DatabaseDep,
    SessionDep,
    SettingsDep,
    get_settings,
)
from emporium.catalog.direct import DirectRoute
from emporium.catalog.errors import (
    CategoryNotFound,
    DuplicateCombination,
    DuplicateSku,
    InvalidOptions,
    ProductNotFound,
)
from emporium.catalog.generations import versioned
from emporium.catalog.invalidation import LISTING, product_family
from emporium.catalog.product import service
from emporium.catalog.product.cursor import MAX_INT64
from emporium.catalog.product.schemas import (
    ListingFacets,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
    Sort,
)
from emporium.catalog.settings import Settings
from emporium.catalog.variants.options import OptionError, OptionFilters, parse_option_filters
from emporium.kit.app import get_resources
from emporium.kit.cache import get_or_compute
from emporium.kit.cache.base import Cache
from emporium.kit.db import Database
from emporium.kit.errors import problem_responses

__all__ = ["direct_routes", "router"]

router = APIRouter(tags=["products"])
JSON = "application/json"


CurrencyQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z]{3}$",
        description="ISO 4217: prices in it (default: the shop's base currency); a "
        "variant without a price in it (any code nothing is sold in) has `price` null.",
    ),
]


def canonical_currency(currency: str | None, base_currency: str) -> str:
    """The currency asked for, canonical (``usd`` is ``USD``). A well-formed code that is not
    ISO 4217 is no error: nothing is priced in it (prices are stored in ISO codes only), so
    every price is null, as for a real currency the shop does not sell in."""
    return base_currency if currency is None else currency.upper()


async def asked_currency(settings: SettingsDep, currency: CurrencyQuery = None) -> str:
    return canonical_currency(currency, settings.base_currency)


CurrencyDep = Annotated[str, Depends(asked_currency)]


async def option_filters(request: Request) -> OptionFilters:
    """The query's ``option.<name>=<value>`` pairs in canonical form; 422 naming a bad one."""
    try:
        return parse_option_filters(request.query_params.multi_items())
    except OptionError as error:
        raise InvalidOptions(error.message, field=f"query.{error.field}") from None


_OPTION_FILTERS = (
    "Also `option.<name>=<value>` (repeatable; e.g. `option.size=M&option.colour=red`): "
    "products with a variant that has one of the asked values of every named option "
    "(names and values compared case-insensitively)."
)


@router.get(
    "/products",
    response_model=ProductPage,
    operation_id="listProducts",
    description="Products, filtered and sorted, one page at a time (`next_cursor` for the "
    "next), with `facets` counted over the whole filtered result. " + _OPTION_FILTERS,
)
async def list_products(
    database: DatabaseDep,
    cache: CacheDep,
    settings: SettingsDep,
    currency: CurrencyDep,
    options: Annotated[OptionFilters, Depends(option_filters)],
    category: Annotated[str | None, Query(max_length=120)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    in_stock: bool | None = None,
    sort: Sort = "name",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    # Room for a name cursor of 200 non-ASCII characters (JSON-escaped, then base64).
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    params = service.ListingParams(
        category=category, q=q, min_price=min_price, max_price=max_price,
        in_stock=in_stock, sort=sort, limit=limit, cursor=cursor, currency=currency,
        options=options,
    )  # fmt: skip
    postgres = database.is_postgres
    base = settings.base_currency

    async def compute() -> Listed:
        # A connection, without a transaction, only when the page is not cached.
        async with database.read_session() as session:
            query = await service.listing_query(session, params, base)

            async def compute_facets() -> bytes:
                facets = await service.listing_facets(session, query, postgres=postgres)
                return facets.model_dump_json().encode()

            if cache is None:
                facets_json = await compute_facets()
            else:
                # Facets depend on the filter only: every page and sort of it shares them.
                # The generation read joins the loop turn's batch (one MGET for many).
                key = await versioned(cache, LISTING, params.facets_key())
                facets_json = await get_or_compute(
                    cache, key, compute_facets, ttl=settings.listing_cache_seconds, stale_ttl=30
                )
            page = await service.list_products(
                session,
                params,
                query,
                postgres=postgres,
                media_prefix=settings.media_url_prefix,
                facets=ListingFacets.model_validate_json(facets_json),
            )
        # The products it shows: a change of one of them makes this page a miss.
        return page.model_dump_json().encode(), tuple(product_family(p.id) for p in page.items)

    if cache is None:
        body, _ = await compute()
    else:
        body = await cached_listing(
            cache, params.cache_key(), compute, ttl=settings.listing_cache_seconds, stale_ttl=30
        )
    return Response(body, media_type=JSON)


async def _product_json(
    database: Database, cache: Cache | None, settings: Settings, product_id: UUID, currency: str
) -> bytes:
    async def compute() -> bytes:
        # A connection, without a transaction, only when the answer is not cached.
        async with database.read_session() as session:
            product = await service.get_product(
                session, product_id, settings.media_url_prefix, currency
            )
        return product.model_dump_json().encode()

    if cache is None:
        return await compute()
    return await cached_answer(
        cache, product_family(product_id), f"detail:{currency}", compute, stale_ttl=30
    )


_NO_PRODUCT = (ProductNotFound, "No product has this id (or it was deleted)")
_NO_CATEGORY = (CategoryNotFound, "`category_id` names no category")
_SKU_TAKEN = (DuplicateSku, "Another product or variant has this SKU")
_BAD_OPTIONS = (InvalidOptions, "`options` break a rule (at most 3, names unique, ...)")
_COMBINATION = (DuplicateCombination, "Two variants would have the same option values")


@router.get(
    "/products/{product_id}",
    response_model=Product,
    operation_id="getProduct",
    responses=problem_responses(_NO_PRODUCT),
)
async def get_product(
    product_id: UUID, request: Request, currency: CurrencyQuery = None
) -> Response:
    """One product with its options and variants, priced in `currency`; 404 if unknown."""
    # The app's resources straight from the request, not as dependencies: solving them was
    # a fair part of a cached answer's cost (the hottest read of the shop).
    resources = get_resources(request)
    settings = await get_settings(request)
    body = await _product_json(
        resources.require_database(),
        resources.cache,
        settings,
        product_id,
        canonical_currency(currency, settings.base_currency),
    )
    return Response(body, media_type=JSON)


# The two hottest reads as nearly every caller sends them, tried before FastAPI's routing
# (``emporium.catalog.direct``): the same endpoints and answers. Any other form (an id
# without dashes, other query parameters, HEAD) is routed to the endpoints above, which
# validate it and document the operations.
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_CURRENCY_ONLY = re.compile(rb"(?:currency=(?P<currency>[A-Za-z]{3}))?")
_LIMIT_ONLY = re.compile(rb"(?:limit=(?P<limit>[1-9][0-9]?|100))?")


async def _direct_product(request: Request) -> Response:
    found = _CURRENCY_ONLY.fullmatch(request.scope["query_string"])
    assert found is not None  # the route matched it
    currency = found["currency"].decode() if found["currency"] else None
    return await get_product(UUID(request.path_params["product_id"]), request, currency)


async def _direct_listing(request: Request) -> Response:
    found = _LIMIT_ONLY.fullmatch(request.scope["query_string"])
    assert found is not None  # the route matched it
    resources = get_resources(request)
    settings = await get_settings(request)
    return await list_products(
        database=resources.require_database(),
        cache=resources.cache,
        settings=settings,
        currency=await asked_currency(settings),
        options=await option_filters(request),
        limit=int(found["limit"]) if found["limit"] else 20,
    )


def direct_routes() -> list[DirectRoute]:
    """``GET /products/<canonical id>[?currency=XYZ]`` and ``GET /products[?limit=N]``."""
    return [
        DirectRoute(
            "/products/{product_id}",
            path=re.compile(rf"/products/(?P<product_id>{_UUID})"),
            query=_CURRENCY_ONLY,
            endpoint=_direct_product,
        ),
        DirectRoute(
            "/products", path=re.compile("/products"), query=_LIMIT_ONLY, endpoint=_direct_listing
        ),
    ]


@router.post(
    "/admin/products",
    response_model=Product,
    status_code=status.HTTP_201_CREATED,
    operation_id="createProduct",
    responses=problem_responses(_NO_CATEGORY, _SKU_TAKEN, _BAD_OPTIONS),
)
async def create_product(
    data: ProductCreate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> Product:
    """Create a product (admin); 409 if the SKU is taken."""
    product = await service.create_product(session, data, settings.base_currency)
    return await service.get_product(
        session, product.id, settings.media_url_prefix, settings.base_currency
    )


@router.patch(
    "/admin/products/{product_id}",
    response_model=Product,
    operation_id="updateProduct",
    responses=problem_responses(_NO_PRODUCT, _NO_CATEGORY, _SKU_TAKEN, _COMBINATION, _BAD_OPTIONS),
)
async def update_product(
    product_id: UUID,
    data: ProductUpdate,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> Product:
    """Change any of a product's fields (admin)."""
    await service.update_product(session, product_id, data, settings.base_currency)
    return await service.get_product(
        session, product_id, settings.media_url_prefix, settings.base_currency
    )


@router.delete(
    "/admin/products/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteProduct",
    responses=problem_responses(_NO_PRODUCT),
)
async def delete_product(product_id: UUID, session: SessionDep, _: AdminDep) -> Response:
    """Delete a product (admin): it leaves listings; orders keep their own copy."""
    await service.delete_product(session, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
