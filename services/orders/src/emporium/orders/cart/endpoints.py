"""``/cart``: the signed-in customer's cart."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from emporium.kit.errors import problem_responses
from emporium.orders.cart import service
from emporium.orders.cart.schemas import CartOut, QuantityIn
from emporium.orders.dependencies import CustomerDep, SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/cart", tags=["cart"])


@router.get("", response_model=CartOut, operation_id="getCart")
async def get_cart(session: SessionDep, customer: CustomerDep) -> CartOut:
    """The caller's cart at current prices."""
    return await service.view(session, customer.subject)


@router.put(
    "/items/{product_id}",
    response_model=CartOut,
    operation_id="setCartItem",
    responses=problem_responses(
        (service.ProductNotFound, "No product has this id (or it was deleted)")
    ),
)
async def put_item(
    product_id: UUID, body: QuantityIn, session: SessionDep, customer: CustomerDep
) -> CartOut:
    """Set how many of a product the cart holds (1 to 99)."""
    return await service.set_quantity(session, customer.subject, product_id, body.quantity)


@router.delete("/items/{product_id}", response_model=CartOut, operation_id="removeCartItem")
async def delete_item(product_id: UUID, session: SessionDep, customer: CustomerDep) -> CartOut:
    """Take a product out of the cart."""
    return await service.remove(session, customer.subject, product_id)


@router.delete("", status_code=204, operation_id="clearCart")
async def delete_cart(session: SessionDep, customer: CustomerDep) -> Response:
    """Empty the cart."""
    await service.clear(session, customer.subject)
    return Response(status_code=204)
