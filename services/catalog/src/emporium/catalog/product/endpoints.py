"""Product HTTP endpoints: the public listing and detail (cached), admin writes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from emporium.catalog.dependencies import AdminDep, CacheDep, SessionDep, SettingsDep
from emporium.catalog.errors import CategoryNotFound, DuplicateSku, ProductNotFound
from emporium.catalog.invalidation import LISTING, product_family
from emporium.catalog.product import service
from emporium.catalog.product.cursor import MAX_INT64
from emporium.catalog.product.schemas import (
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
    Sort,
)
from emporium.kit.cache import get_or_compute
from emporium.kit.errors import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["products"])
JSON = "application/json"


@router.get("/products", response_model=ProductPage, operation_id="listProducts")
async def list_products(
    session: SessionDep,
    cache: CacheDep,
    settings: SettingsDep,
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
    """Products, filtered and sorted, one page at a time (``next_cursor`` for the next)."""
    params = service.ListingParams(
        category=category, q=q, min_price=min_price, max_price=max_price,
        in_stock=in_stock, sort=sort, limit=limit, cursor=cursor,
    )  # fmt: skip
    postgres = session.get_bind().dialect.name == "postgresql"

    async def compute() -> bytes:
        page = await service.list_products(
            session, params, postgres=postgres, media_prefix=settings.media_url_prefix
        )
        return page.model_dump_json().encode()

    if cache is None:
        body = await compute()
    else:
        key = await cache.versioned(LISTING, params.cache_key())
        body = await get_or_compute(
            cache, key, compute, ttl=settings.listing_cache_seconds, stale_ttl=30
        )
    return Response(body, media_type=JSON)


async def _product_json(
    session: SessionDep, cache: CacheDep, settings: SettingsDep, product_id: UUID
) -> bytes:
    async def compute() -> bytes:
        product = await service.get_product(session, product_id, settings.media_url_prefix)
        return product.model_dump_json().encode()

    if cache is None:
        return await compute()
    key = await cache.versioned(product_family(product_id), "detail")
    return await get_or_compute(cache, key, compute, stale_ttl=30)


_NO_PRODUCT = (ProductNotFound, "No product has this id (or it was deleted)")
_NO_CATEGORY = (CategoryNotFound, "`category_id` names no category")
_SKU_TAKEN = (DuplicateSku, "Another product has this SKU")


@router.get(
    "/products/{product_id}",
    response_model=Product,
    operation_id="getProduct",
    responses=problem_responses(_NO_PRODUCT),
)
async def get_product(
    product_id: UUID, session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> Response:
    """One product; 404 if unknown or deleted."""
    return Response(await _product_json(session, cache, settings, product_id), media_type=JSON)


@router.post(
    "/admin/products",
    response_model=Product,
    status_code=status.HTTP_201_CREATED,
    operation_id="createProduct",
    responses=problem_responses(_NO_CATEGORY, _SKU_TAKEN),
)
async def create_product(
    data: ProductCreate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> Product:
    """Create a product (admin); 409 if the SKU is taken."""
    product = await service.create_product(session, data)
    return await service.get_product(session, product.id, settings.media_url_prefix)


@router.patch(
    "/admin/products/{product_id}",
    response_model=Product,
    operation_id="updateProduct",
    responses=problem_responses(_NO_PRODUCT, _NO_CATEGORY, _SKU_TAKEN),
)
async def update_product(
    product_id: UUID,
    data: ProductUpdate,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> Product:
    """Change any of a product's fields (admin)."""
    await service.update_product(session, product_id, data)
    return await service.get_product(session, product_id, settings.media_url_prefix)


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
