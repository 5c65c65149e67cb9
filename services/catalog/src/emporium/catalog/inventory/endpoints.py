"""Inventory HTTP endpoints (admin)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from emporium.catalog.dependencies import AdminDep, SessionDep
from emporium.catalog.errors import ProductNotFound, StockBelowReserved
from emporium.catalog.inventory import service
from emporium.catalog.inventory.schemas import StockLevel, StockSet
from emporium.kit.errors import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["inventory"])


@router.put(
    "/admin/products/{product_id}/stock",
    response_model=StockLevel,
    operation_id="setStock",
    responses=problem_responses(
        (ProductNotFound, "No product has this id (or it was deleted)"),
        (StockBelowReserved, "`on_hand` is below the units reserved by open orders"),
    ),
)
async def set_stock(
    product_id: UUID, data: StockSet, session: SessionDep, _: AdminDep
) -> StockLevel:
    """Set the units on hand (admin); 409 below what is reserved."""
    stock = await service.set_on_hand(session, product_id, data.on_hand)
    return StockLevel(on_hand=stock.on_hand, reserved=stock.reserved, available=stock.available)
