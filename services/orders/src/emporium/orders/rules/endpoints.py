"""``/admin/shipping-zones``, ``/admin/tax-rates``, ``/admin/promotions``: admin only."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from emporium.kit.errors import problem_responses
from emporium.orders.common import Page, decode_cursor, encode_cursor
from emporium.orders.dependencies import AdminDep, SessionDep
from emporium.orders.rules import repository, service
from emporium.orders.rules.errors import (
    DuplicateCode,
    DuplicateTaxRate,
    PromotionNotFound,
    TaxRateNotFound,
    ZoneNotFound,
)
from emporium.orders.rules.schemas import (
    PromotionIn,
    PromotionOut,
    PromotionUpdate,
    ShippingZoneIn,
    ShippingZoneOut,
    TaxRateIn,
    TaxRateOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/shipping-zones",
    response_model=ShippingZoneOut,
    status_code=status.HTTP_201_CREATED,
    operation_id="createShippingZone",
)
async def create_shipping_zone(
    data: ShippingZoneIn, session: SessionDep, _: AdminDep
) -> ShippingZoneOut:
    """Create a shipping zone (countries) with its rates."""
    return ShippingZoneOut.model_validate(await service.create_zone(session, data))


@router.get(
    "/shipping-zones", response_model=list[ShippingZoneOut], operation_id="listShippingZones"
)
async def list_shipping_zones(session: SessionDep, _: AdminDep) -> list[ShippingZoneOut]:
    """Every shipping zone with its rates."""
    return [ShippingZoneOut.model_validate(z) for z in await repository.all_zones(session)]


@router.delete(
    "/shipping-zones/{zone_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteShippingZone",
    responses=problem_responses((ZoneNotFound, "No shipping zone has this id")),
)
async def delete_shipping_zone(zone_id: UUID, session: SessionDep, _: AdminDep) -> Response:
    """Delete a shipping zone and its rates (placed orders keep what they were charged)."""
    await service.delete_zone(session, zone_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/tax-rates",
    response_model=TaxRateOut,
    status_code=status.HTTP_201_CREATED,
    operation_id="createTaxRate",
    responses=problem_responses(
        (DuplicateTaxRate, "The country (and region) has a rate of this class and name")
    ),
)
async def create_tax_rate(data: TaxRateIn, session: SessionDep, _: AdminDep) -> TaxRateOut:
    """Create a tax rate for a country, or one of its regions, and a tax class."""
    return TaxRateOut.model_validate(await service.create_tax_rate(session, data))


@router.get("/tax-rates", response_model=list[TaxRateOut], operation_id="listTaxRates")
async def list_tax_rates(
    session: SessionDep,
    _: AdminDep,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
) -> list[TaxRateOut]:
    """Every tax rate (of one country if given), by country, region, class and name."""
    rows = await repository.all_tax_rates(session, country)
    return [TaxRateOut.model_validate(row) for row in rows]


@router.delete(
    "/tax-rates/{tax_rate_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteTaxRate",
    responses=problem_responses((TaxRateNotFound, "No tax rate has this id")),
)
async def delete_tax_rate(tax_rate_id: UUID, session: SessionDep, _: AdminDep) -> Response:
    """Delete a tax rate (placed orders keep the tax they were charged)."""
    await service.delete_tax_rate(session, tax_rate_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_NO_PROMOTION = (PromotionNotFound, "No promotion has this id (or it was deleted)")
_TAKEN = (DuplicateCode, "Another promotion has this code")


@router.post(
    "/promotions",
    response_model=PromotionOut,
    status_code=status.HTTP_201_CREATED,
    operation_id="createPromotion",
    responses=problem_responses(_TAKEN),
)
async def create_promotion(data: PromotionIn, session: SessionDep, _: AdminDep) -> PromotionOut:
    """Create a promotion: automatic, or by code (``code``)."""
    return service.promotion_out(await service.create_promotion(session, data))


@router.get(
    "/promotions",
    response_model=Page[PromotionOut],
    operation_id="listPromotions",
)
async def list_promotions(
    session: SessionDep,
    _: AdminDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Page[PromotionOut]:
    """The promotions, newest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.promotion_page(session, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[PromotionOut](
        items=[service.promotion_out(row) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


@router.get(
    "/promotions/{promotion_id}",
    response_model=PromotionOut,
    operation_id="getPromotion",
    responses=problem_responses(_NO_PROMOTION),
)
async def get_promotion(promotion_id: UUID, session: SessionDep, _: AdminDep) -> PromotionOut:
    """One promotion."""
    return service.promotion_out(await service.get_promotion(session, promotion_id))


@router.patch(
    "/promotions/{promotion_id}",
    response_model=PromotionOut,
    operation_id="updatePromotion",
    responses=problem_responses(
        _NO_PROMOTION,
        _TAKEN,
        (service.PromotionConflict, "The promotion would not be valid so changed: see `errors`"),
    ),
)
async def update_promotion(
    promotion_id: UUID, change: PromotionUpdate, session: SessionDep, _: AdminDep
) -> PromotionOut:
    """Change a promotion; the result must be valid as a whole (409 naming what is not)."""
    return service.promotion_out(await service.update_promotion(session, promotion_id, change))


@router.delete(
    "/promotions/{promotion_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deletePromotion",
    responses=problem_responses(_NO_PROMOTION),
)
async def delete_promotion(promotion_id: UUID, session: SessionDep, _: AdminDep) -> Response:
    """Delete a promotion: carts stop applying it and its code is free; placed orders keep it."""
    await service.delete_promotion(session, promotion_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
