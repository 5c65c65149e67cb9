"""The cart: add, change quantities, remove; anonymous until sign-in (``basket.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront import variants
from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import client_ip, shopper_or_none
from emporium.storefront.problems import explain
from emporium.storefront.session import Session, get_session
from emporium.storefront.shop import basket
from emporium.storefront.shop.forms import safe_next, text
from emporium.storefront.web import render

__all__ = ["line_key", "load_cart", "merge_into_account", "router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


def _count(cart: dict[str, Any]) -> int:
    return sum(int(item.get("quantity", 0)) for item in cart.get("items", []))


def line_key(item: dict[str, Any]) -> str:
    """The id a cart line goes by: its variant's (the product's for an API before variants)."""
    return str(item.get("variant_id") or item.get("product_id") or "")


def _products_of(session: Session) -> dict[str, str]:
    # variant id -> its product's id, for the session's lines (a line without one is a
    # product's first variant, whose id is the product's).
    raw = session.get("cart_products")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


async def _session_items(request: Request, api: Api, lines: dict[str, int]) -> list[dict[str, Any]]:
    session = get_session(request)
    products = _products_of(session)
    found: dict[str, dict[str, Any] | None] = {}
    items: list[dict[str, Any]] = []
    for variant_id, quantity in lines.items():
        product_id = products.get(variant_id, variant_id)
        if product_id not in found:
            try:
                found[product_id] = await api.json(
                    "GET", path("products", product_id), client_ip=client_ip(request)
                )
            except ApiProblem as problem:
                if problem.status not in (404, 422):
                    raise
                found[product_id] = None
        product = found[product_id]
        if product is None:
            continue
        variant = variants.variant_of(variants.with_variants(product), variant_id)
        if variant is None or variant.get("price") is None:
            continue
        price = variant["price"]
        items.append(
            {
                "product_id": product_id,
                "variant_id": variant_id,
                "name": product["name"],
                "sku": variant.get("sku", ""),
                "options": variant.get("options") or {},
                "unit_price": price,
                "quantity": quantity,
                "line_total": {
                    "amount": int(price["amount"]) * quantity,
                    "currency": price.get("currency", "EUR"),
                },
                "available": bool((variant.get("availability") or {}).get("in_stock", True)),
            }
        )
    return items


async def load_cart(request: Request, api: Api, token: str | None) -> dict[str, Any]:
    """The cart to show: the API's for a customer, else the session's, priced from the
    catalog (a product or variant gone from it is left out)."""
    session = get_session(request)
    if token is not None:
        cart: dict[str, Any] = await api.json(
            "GET", "/cart", token=token, client_ip=client_ip(request)
        )
        session.put("cart_count", _count(cart))
        return cart
    lines = basket.lines_of(session.get("cart"))
    items = await _session_items(request, api, lines)
    currency = str(items[0]["unit_price"].get("currency", "EUR")) if items else "EUR"
    total = sum(int(item["line_total"]["amount"]) for item in items)
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
    have = {line_key(item): int(item["quantity"]) for item in cart.get("items", [])}
    skipped = 0
    for variant_id, quantity in lines.items():
        try:
            await api.call(
                "PUT",
                path("cart", "items", variant_id),
                json={"quantity": basket.merged_quantity(have.get(variant_id, 0), quantity)},
                token=token,
                client_ip=ip,
            )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            skipped += 1
    session.put("cart", {})
    session.put("cart_products", {})
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
    """Add a product's chosen variant (from its page) to the cart."""
    form = await request.form()
    session = get_session(request)
    product_id = text(form, "product_id", 64)
    variant_id = text(form, "variant_id", 64) or product_id
    currency = variants.asked_currency(text(form, "currency", 3))
    back = safe_next(text(form, "next", 2000), default=f"/products/{product_id}")
    try:
        quantity = basket.parse_quantity(text(form, "quantity", 10) or "1")
    except ValueError as error:
        return _back(session, str(error), "error", back)
    who = await shopper_or_none(request)
    if who is None:
        try:
            session.put(
                "cart", basket.add(basket.lines_of(session.get("cart")), variant_id, quantity)
            )
        except ValueError as error:
            return _back(session, str(error), "error", back)
        if variant_id != product_id and basket.is_id(product_id):
            products = _products_of(session)
            kept = basket.lines_of(session.get("cart"))
            session.put(
                "cart_products",
                {k: v for k, v in {**products, variant_id: product_id}.items() if k in kept},
            )
        await load_cart(request, api, None)
        return _back(session, "Added to your cart.")
    ip = client_ip(request)
    try:
        cart = await api.json("GET", "/cart", token=who.token, client_ip=ip)
        have = next((int(i["quantity"]) for i in cart["items"] if line_key(i) == variant_id), 0)
        body: dict[str, Any] = {"quantity": min(basket.MAX_QUANTITY, have + quantity)}
        if currency and not cart["items"]:
            # The first line fixes the cart's currency (the one the product page showed).
            body["currency"] = currency
        await api.call(
            "PUT", path("cart", "items", variant_id), json=body, token=who.token, client_ip=ip
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
