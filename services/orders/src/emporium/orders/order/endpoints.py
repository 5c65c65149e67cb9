"""``/orders``: checkout and the signed-in customer's orders."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from emporium.kit.errors import problem_responses
from emporium.orders.cart.service import CodeRefused
from emporium.orders.common import Page, decode_cursor, encode_cursor
from emporium.orders.dependencies import (
    CustomerDep,
    DatabaseDep,
    PublisherDep,
    SessionDep,
    SettingsDep,
)
from emporium.orders.order import checkout, repository, service
from emporium.orders.order.schemas import CheckoutIn, OrderOut
from emporium.orders.order.stream import MAX_EVENT_ID, status_events

__all__ = ["router"]

router = APIRouter(prefix="/orders", tags=["orders"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Chosen by the client; a retry with the same key returns the same order.",
    ),
]


@router.post(
    "",
    response_model=OrderOut,
    status_code=202,
    operation_id="placeOrder",
    responses=problem_responses(
        (service.EmptyCart, "The cart is empty"),
        (
            service.CartNotOrderable,
            "The cart holds a product that is no longer sold, or mixes currencies",
        ),
        (
            service.IdempotencyKeyReused,
            "This Idempotency-Key already placed an order from a different request"
            " (the same request again returns that order, 202)",
        ),
        (
            checkout.ShippingMethodRequired,
            "A shipping zone covers the address and no shipping method is chosen (or the"
            " chosen one no longer applies)",
        ),
        (
            checkout.ShippingAddressRequired,
            "Neither the body nor the cart has a shipping address",
        ),
        (
            CodeRefused,
            "The cart's code no longer applies, or its usage limit was reached (`reason`)",
        ),
    ),
)
async def place_order(
    body: CheckoutIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    customer: CustomerDep,
) -> OrderOut:
    """Order the cart, priced as it shows: a pending order; the checkout goes on after."""
    placed = await checkout.place(
        session, publisher, customer.subject, idempotency_key, body, settings.tax_inclusive
    )
    known = {} if placed.made is None else {placed.order.id: placed.made}
    return (await service.render(session, [placed.order], known=known))[0]


@router.get("", response_model=Page[OrderOut], operation_id="listOrders")
async def list_orders(
    session: SessionDep,
    customer: CustomerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Page[OrderOut]:
    """The caller's orders, newest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.page(
        session, customer_id=customer.subject, status=None, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[OrderOut](
        items=await service.render(session, rows),
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


_NO_ORDER = (service.OrderNotFound, "The caller has no order with this id")


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    operation_id="getOrder",
    responses=problem_responses(_NO_ORDER),
)
async def get_order(order_id: UUID, session: SessionDep, customer: CustomerDep) -> OrderOut:
    """One of the caller's orders, with its status history."""
    order = await service.owned(session, order_id, customer.subject)
    return (await service.render(session, [order]))[0]


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    operation_id="cancelOrder",
    responses=problem_responses(
        _NO_ORDER,
        (service.IllegalStatusChange, "The order is shipped, rejected or cancelled already"),
    ),
)
async def cancel_order(
    order_id: UUID, session: SessionDep, publisher: PublisherDep, customer: CustomerDep
) -> OrderOut:
    """Cancel a pending or confirmed order (refunded if paid); 409 once shipped."""
    order = await service.cancel_by_customer(session, publisher, order_id, customer.subject)
    return (await service.render(session, [order]))[0]


@router.get(
    "/{order_id}/events",
    response_class=StreamingResponse,
    operation_id="streamOrderEvents",
    responses={
        200: {
            "description": "`text/event-stream`: one event per status change (`id`: its number)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(_NO_ORDER),
    },
)
async def order_events(
    order_id: UUID,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    customer: CustomerDep,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_EVENT_ID)
    ] = None,
) -> Response:
    """Server-sent events: one per status change; ends at a final status."""
    await service.owned(session, order_id, customer.subject)
    return StreamingResponse(
        status_events(
            database,
            order_id,
            after_seq=last_event_id or 0,
            poll_seconds=settings.sse_poll_seconds,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
