"""``/admin/orders``: every order, and shipping."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from emporium.kit.errors import problem_responses
from emporium.orders.common import Page, decode_cursor, encode_cursor
from emporium.orders.dependencies import AdminDep, PublisherDep, SessionDep
from emporium.orders.order import repository, service
from emporium.orders.order.schemas import OrderOut
from emporium.orders.order.state import Status

__all__ = ["router"]

router = APIRouter(prefix="/admin/orders", tags=["admin"])


@router.get("", response_model=Page[OrderOut], operation_id="listAllOrders")
async def list_all_orders(
    session: SessionDep,
    admin: AdminDep,
    status: Status | None = None,
    customer_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Page[OrderOut]:
    """All orders, newest first; filter by status or customer."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.page(
        session,
        customer_id=customer_id,
        status=status.value if status else None,
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[OrderOut](
        items=await service.render(session, rows),
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


_NO_ORDER = (service.OrderNotFound, "No order has this id")


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    operation_id="getAnyOrder",
    responses=problem_responses(_NO_ORDER),
)
async def get_any_order(order_id: UUID, session: SessionDep, admin: AdminDep) -> OrderOut:
    """Any order."""
    order = await repository.get(session, order_id)
    if order is None:
        raise service.OrderNotFound(f"order {order_id} does not exist")
    return (await service.render(session, [order]))[0]


@router.post(
    "/{order_id}/ship",
    response_model=OrderOut,
    operation_id="shipOrder",
    responses=problem_responses(
        _NO_ORDER, (service.IllegalStatusChange, "Only a confirmed order can be shipped")
    ),
)
async def ship_order(
    order_id: UUID, session: SessionDep, publisher: PublisherDep, admin: AdminDep
) -> OrderOut:
    """Ship a confirmed order (stock leaves the shelf); 409 otherwise."""
    order = await service.ship(session, publisher, order_id)
    return (await service.render(session, [order]))[0]
