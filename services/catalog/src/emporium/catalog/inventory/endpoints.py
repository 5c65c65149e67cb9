"""Inventory HTTP endpoints (admin): stock locations, stock per variant and location, and
a product's stock as before variants (its default variant at ``default``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from emporium.catalog.dependencies import AdminDep, SessionDep
from emporium.catalog.errors import (
    DuplicateLocation,
    LocationNotFound,
    ProductNotFound,
    StockBelowReserved,
    VariantNotFound,
)
from emporium.catalog.inventory import repository, service
from emporium.catalog.inventory.schemas import StockLevel, StockSet
from emporium.catalog.models import StockLocation
from emporium.catalog.variants.schemas import (
    LOCATION_CODE_PATTERN,
    Location,
    LocationCreate,
    LocationStock,
)
from emporium.kit.errors import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["inventory"])

LocationCode = Annotated[str, Path(pattern=LOCATION_CODE_PATTERN, max_length=32)]
_BELOW_RESERVED = (StockBelowReserved, "`on_hand` is below the units reserved by open orders")


def _location(place: StockLocation) -> Location:
    return Location(
        code=place.code, name=place.name, priority=place.priority, created_at=place.created_at
    )


@router.put(
    "/admin/products/{product_id}/stock",
    response_model=StockLevel,
    operation_id="setStock",
    responses=problem_responses(
        (ProductNotFound, "No product has this id (or it was deleted)"), _BELOW_RESERVED
    ),
)
async def set_stock(
    product_id: UUID, data: StockSet, session: SessionDep, _: AdminDep
) -> StockLevel:
    """Set the units on hand of the product's default variant at the `default` location
    (admin); answers the product's units summed over its variants and locations; 409
    below what is reserved there."""
    totals = await service.set_on_hand(session, product_id, data.on_hand)
    return StockLevel(on_hand=totals.on_hand, reserved=totals.reserved, available=totals.available)


@router.get("/admin/locations", response_model=list[Location], operation_id="listStockLocations")
async def list_locations(session: SessionDep, _: AdminDep) -> list[Location]:
    """Every stock location, in the order orders take from them (lower priority first)."""
    return [_location(place) for place in await repository.locations(session)]


@router.post(
    "/admin/locations",
    response_model=Location,
    status_code=status.HTTP_201_CREATED,
    operation_id="createStockLocation",
    responses=problem_responses((DuplicateLocation, "A stock location has this code")),
)
async def create_location(data: LocationCreate, session: SessionDep, _: AdminDep) -> Location:
    """Create a stock location (admin), without stock."""
    return _location(await service.create_location(session, data.code, data.name, data.priority))


@router.put(
    "/admin/variants/{variant_id}/stock/{location_code}",
    response_model=LocationStock,
    operation_id="setVariantStock",
    responses=problem_responses(
        (VariantNotFound, "No variant has this id (or it or its product was deleted)"),
        (LocationNotFound, "No stock location has this code"),
        _BELOW_RESERVED,
    ),
)
async def set_variant_stock(
    variant_id: UUID,
    location_code: LocationCode,
    data: StockSet,
    session: SessionDep,
    _: AdminDep,
) -> LocationStock:
    """Set a variant's units on hand at one location (admin); 409 below what is reserved
    there."""
    level = await service.set_variant_on_hand(session, variant_id, location_code, data.on_hand)
    return LocationStock(
        location=level.location_code,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
    )


@router.get(
    "/admin/variants/{variant_id}/stock",
    response_model=list[LocationStock],
    operation_id="getVariantStock",
    responses=problem_responses(
        (VariantNotFound, "No variant has this id (or it or its product was deleted)")
    ),
)
async def get_variant_stock(
    variant_id: UUID, session: SessionDep, _: AdminDep
) -> list[LocationStock]:
    """A variant's units at every stock location (admin), in priority order."""
    return [
        LocationStock(
            location=place.code,
            on_hand=totals.on_hand,
            reserved=totals.reserved,
            available=totals.available,
        )
        for place, totals in await service.stock_of_variant(session, variant_id)
    ]
