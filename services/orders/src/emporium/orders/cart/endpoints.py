"""``/cart``: the signed-in customer's cart, its shipping address and method, its code."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from emporium.kit.errors import problem_responses
from emporium.orders.cart import service
from emporium.orders.cart.schemas import (
    CODE_PATTERN,
    CartOut,
    CodeIn,
    QuantityIn,
    ShippingMethodIn,
    ShippingOptionOut,
)
from emporium.orders.dependencies import CustomerDep, SessionDep, SettingsDep
from emporium.orders.order.schemas import Address

__all__ = ["router"]

router = APIRouter(prefix="/cart", tags=["cart"])


@router.get("", response_model=CartOut, operation_id="getCart")
async def get_cart(session: SessionDep, settings: SettingsDep, customer: CustomerDep) -> CartOut:
    """The caller's cart at current prices and rules, with its breakdown."""
    return await service.view(session, customer.subject, settings.tax_inclusive)


@router.put(
    "/items/{product_id}",
    response_model=CartOut,
    operation_id="setCartItem",
    responses=problem_responses(
        (service.ProductNotFound, "No variant or product has this id (or it was deleted)"),
        (service.VariantRequired, "The product has options: choose one of its variants"),
        (service.NotSoldInCurrency, "The variant has no price in the cart's currency"),
        (service.CartCurrencyFixed, "Another currency than the one the cart's first item fixed"),
    ),
)
async def put_item(
    product_id: Annotated[
        UUID,
        Path(description="A variant's id, or the id of a product without options."),
    ],
    body: QuantityIn,
    session: SessionDep,
    settings: SettingsDep,
    customer: CustomerDep,
) -> CartOut:
    """Set how many of a variant the cart holds (1 to 99); the first item may fix the
    cart's currency."""
    return await service.set_quantity(
        session,
        customer.subject,
        product_id,
        body.quantity,
        settings.tax_inclusive,
        body.currency,
    )


@router.delete("/items/{product_id}", response_model=CartOut, operation_id="removeCartItem")
async def delete_item(
    product_id: UUID, session: SessionDep, settings: SettingsDep, customer: CustomerDep
) -> CartOut:
    """Take a product out of the cart."""
    return await service.remove(session, customer.subject, product_id, settings.tax_inclusive)


@router.delete("", status_code=204, operation_id="clearCart")
async def delete_cart(session: SessionDep, customer: CustomerDep) -> Response:
    """Empty the cart: its lines, shipping address, shipping method and code."""
    await service.clear(session, customer.subject)
    return Response(status_code=204)


@router.put("/shipping-address", response_model=CartOut, operation_id="setCartShippingAddress")
async def put_shipping_address(
    body: Address, session: SessionDep, settings: SettingsDep, customer: CustomerDep
) -> CartOut:
    """Where the cart ships: the answer offers the shipping options for it."""
    return await service.set_shipping_address(
        session, customer.subject, body, settings.tax_inclusive
    )


@router.get(
    "/shipping-options",
    response_model=list[ShippingOptionOut],
    operation_id="listCartShippingOptions",
)
async def get_shipping_options(
    session: SessionDep, settings: SettingsDep, customer: CustomerDep
) -> list[ShippingOptionOut]:
    """The shipping rates offered for the cart's address and contents."""
    return await service.shipping_options(session, customer.subject, settings.tax_inclusive)


@router.put(
    "/shipping-method",
    response_model=CartOut,
    operation_id="setCartShippingMethod",
    responses=problem_responses(
        (service.ShippingMethodNotOffered, "The rate is not among the cart's shipping options")
    ),
)
async def put_shipping_method(
    body: ShippingMethodIn, session: SessionDep, settings: SettingsDep, customer: CustomerDep
) -> CartOut:
    """Choose one of the cart's shipping options."""
    return await service.choose_shipping_method(
        session, customer.subject, body.id, settings.tax_inclusive
    )


@router.post(
    "/codes",
    response_model=CartOut,
    operation_id="applyCartCode",
    responses=problem_responses(
        (service.CodeRefused, "The code does not apply; `reason` says why")
    ),
)
async def post_code(
    body: CodeIn, session: SessionDep, settings: SettingsDep, customer: CustomerDep
) -> CartOut:
    """Apply a promotion code (it replaces the cart's code, if any)."""
    return await service.apply_code(session, customer.subject, body.code, settings.tax_inclusive)


@router.delete("/codes/{code}", response_model=CartOut, operation_id="removeCartCode")
async def delete_code(
    code: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN)],
    session: SessionDep,
    settings: SettingsDep,
    customer: CustomerDep,
) -> CartOut:
    """Take the code off the cart (nothing changes if the cart does not hold it)."""
    return await service.remove_code(session, customer.subject, code, settings.tax_inclusive)
