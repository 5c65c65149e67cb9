"""The cart: add, change quantities, remove; anonymous until sign-in (``basket.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import client_ip, shopper_or_none
from emporium.storefront.problems import explain
from emporium.storefront.session import Session, get_session
from emporium.storefront.shop import basket
from emporium.storefront.shop.forms import safe_next, text
from emporium.storefront.web import render

__all__ = ["load_cart", "merge_into_account", "router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


def _count(cart: dict[str, Any]) -> int:
    return sum(int(item.get("quantity", 0)) for item in cart.get("items", []))


async def load_cart(request: Request, api: Api, token: str | None) -> dict[str, Any]:
    """The cart to show: the API's for a customer, else the session's, priced from the
    catalog (a product gone from it is left out)."""
    session = get_session(request)
    if token is not None:
        cart: dict[str, Any] = await api.json(
            "GET", "/cart", token=token, client_ip=client_ip(request)
        )
        session.put("cart_count", _count(cart))
        return cart
    lines = basket.lines_of(session.get("cart"))
    items: list[dict[str, Any]] = []
    total, currency = 0, "EUR"
    for product_id, quantity in lines.items():
        try:
            product = await api.json(
                "GET", path("products", product_id), client_ip=client_ip(request)
            )
        except ApiProblem as problem:
            if problem.status in (404, 422):
                continue
            raise
        price = product["price"]
        currency = price.get("currency", currency)
        line_total = int(price["amount"]) * quantity
        total += line_total
        items.append(
            {
                "product_id": product_id,
                "name": product["name"],
                "sku": product.get("sku", ""),
                "unit_price": price,
                "quantity": quantity,
                "line_total": {"amount": line_total, "currency": currency},
                "available": bool(product.get("availability", {}).get("in_stock", True)),
            }
        )
    session.put("cart_count", sum(lines.values()))
    return {"items": items, "total": {"amount": total, "currency": currency}}


async def merge_into_account(request: Request, api: Api, token: str) -> None:
    """After sign-in: the session's lines added to the customer's API cart, then forgotten."""
    session = get_session(request)
    lines = basket.lines_of(session.get("cart"))
    if not lines:
        return
    ip = client_ip(request)
    cart = await api.json("GET", "/cart", token=token, client_ip=ip)
    have = {str(item["product_id"]): int(item["quantity"]) for item in cart.get("items", [])}
    skipped = 0
    for product_id, quantity in lines.items():
        try:
            await api.call(
                "PUT",
                path("cart", "items", product_id),
                json={"quantity": basket.merged_quantity(have.get(product_id, 0), quantity)},
                token=token,
                client_ip=ip,
            )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            skipped += 1
    session.put("cart", {})
    if skipped:
        session.flash(f"{skipped} product(s) in your cart are no longer sold and were left out.")
    await load_cart(request, api, token)


def _back(session: Session, message: str, kind: str = "info", to: str = "/cart") -> Response:
    session.flash(message, kind)
    return RedirectResponse(to, status_code=303)


@router.get("/cart", response_class=HTMLResponse)
async def cart_page(request: Request, api: ApiDep) -> Response:
    """The cart: each line with its quantity to change or remove, and the total."""
    who = await shopper_or_none(request)
    cart = await load_cart(request, api, who.token if who else None)
    return render(request, "shop/cart.html", {"cart": cart, "signed_in": who is not None})


@router.post("/cart/items")
async def add_to_cart(request: Request, api: ApiDep) -> Response:
    """Add a product (from its page) to the cart."""
    form = await request.form()
    session = get_session(request)
    product_id = text(form, "product_id", 64)
    back = safe_next(text(form, "next", 2000), default=f"/products/{product_id}")
    try:
        quantity = basket.parse_quantity(text(form, "quantity", 10) or "1")
    except ValueError as error:
        return _back(session, str(error), "error", back)
    who = await shopper_or_none(request)
    if who is None:
        try:
            session.put(
                "cart", basket.add(basket.lines_of(session.get("cart")), product_id, quantity)
            )
        except ValueError as error:
            return _back(session, str(error), "error", back)
        await load_cart(request, api, None)
        return _back(session, "Added to your cart.")
    ip = client_ip(request)
    try:
        cart = await api.json("GET", "/cart", token=who.token, client_ip=ip)
        have = next(
            (int(i["quantity"]) for i in cart["items"] if str(i["product_id"]) == product_id), 0
        )
        await api.call(
            "PUT",
            path("cart", "items", product_id),
            json={"quantity": min(basket.MAX_QUANTITY, have + quantity)},
            token=who.token,
            client_ip=ip,
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return _back(session, explain(problem).form or "That could not be added.", "error", back)
    await load_cart(request, api, who.token)
    return _back(session, "Added to your cart.")


@router.post("/cart/items/{product_id}")
async def change_quantity(product_id: str, request: Request, api: ApiDep) -> Response:
    """Set a line's quantity (0 removes it)."""
    form = await request.form()
    session = get_session(request)
    try:
        quantity = basket.parse_quantity(text(form, "quantity", 10), allow_zero=True)
    except ValueError as error:
        return _back(session, str(error), "error")
    return await _set(request, api, product_id, quantity)


@router.post("/cart/items/{product_id}/remove")
async def remove_line(product_id: str, request: Request, api: ApiDep) -> Response:
    """Take a product out of the cart."""
    return await _set(request, api, product_id, 0)


async def _set(request: Request, api: Api, product_id: str, quantity: int) -> Response:
    session = get_session(request)
    who = await shopper_or_none(request)
    if who is None:
        session.put(
            "cart", basket.set_quantity(basket.lines_of(session.get("cart")), product_id, quantity)
        )
    else:
        try:
            if quantity == 0:
                await api.call(
                    "DELETE",
                    path("cart", "items", product_id),
                    token=who.token,
                    client_ip=client_ip(request),
                )
            else:
                await api.call(
                    "PUT",
                    path("cart", "items", product_id),
                    json={"quantity": quantity},
                    token=who.token,
                    client_ip=client_ip(request),
                )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            return _back(session, explain(problem, ()).form or "That did not work.", "error")
    await load_cart(request, api, who.token if who else None)
    return _back(session, "Removed from your cart." if quantity == 0 else "Cart updated.")
