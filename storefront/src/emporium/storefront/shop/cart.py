"""The cart: add, change quantities, remove; anonymous until sign-in (``basket.py``).

A cart's currency is fixed by its first line (as the API's is): ``load_cart`` keeps it in
the session beside the count (``remember``), so every page shows prices in it while the
cart has lines (``web.shown_currency``), and a line added in another currency is refused
in words that name both."""

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
from emporium.storefront.web import offered_currencies, render, shown_currency

__all__ = ["currency_refusal", "line_key", "load_cart", "merge_into_account", "remember", "router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


def _count(cart: dict[str, Any]) -> int:
    return sum(int(item.get("quantity", 0)) for item in cart.get("items", []))


def remember(session: Session, count: int, currency: str | None) -> None:
    """The cart's line count (the header's badge) and, while it has lines, its currency."""
    session.put("cart_count", count)
    if count > 0 and currency:
        session.put("cart_currency", currency)
    elif session.get("cart_currency") is not None:
        session.data.pop("cart_currency", None)
        session.modified = True


def currency_refusal(held: str, asked: str) -> str:
    """Why a product shown in ``asked`` cannot join a cart in ``held``, in plain words."""
    return (
        f"Your cart is in {held}, the currency of its first product, and takes nothing "
        f"priced in {asked}: order or empty it first, or shop in {held}."
    )


def _cart_currency(cart: dict[str, Any]) -> str | None:
    total = cart.get("total")
    found = total.get("currency") if isinstance(total, dict) else None
    return str(found) if found and cart.get("items") else None


def line_key(item: dict[str, Any]) -> str:
    """The id a cart line goes by: its variant's (the product's for an API before variants)."""
    return str(item.get("variant_id") or item.get("product_id") or "")


def _products_of(session: Session) -> dict[str, str]:
    # variant id -> its product's id, for the session's lines (a line without one is a
    # product's first variant, whose id is the product's).
    raw = session.get("cart_products")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


async def _session_items(
    request: Request, api: Api, lines: dict[str, int], currency: str
) -> list[dict[str, Any]]:
    session = get_session(request)
    products = _products_of(session)
    found: dict[str, dict[str, Any] | None] = {}
    items: list[dict[str, Any]] = []
    for variant_id, quantity in lines.items():
        product_id = products.get(variant_id, variant_id)
        if product_id not in found:
            try:
                found[product_id] = await api.json(
                    "GET",
                    path("products", product_id),
                    params={"currency": currency},
                    client_ip=client_ip(request),
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
                    "currency": price.get("currency", currency),
                },
                "available": bool((variant.get("availability") or {}).get("in_stock", True)),
            }
        )
    return items


async def load_cart(request: Request, api: Api, token: str | None) -> dict[str, Any]:
    """The cart to show: the API's for a customer, else the session's, priced from the
    catalog in the cart's currency (a product or variant gone from it, or no longer priced
    in it, is left out)."""
    session = get_session(request)
    if token is not None:
        cart: dict[str, Any] = await api.json(
            "GET", "/cart", token=token, client_ip=client_ip(request)
        )
        remember(session, _count(cart), _cart_currency(cart))
        return cart
    lines = basket.lines_of(session.get("cart"))
    held = session.get("cart_currency")
    currency = held if isinstance(held, str) and held else offered_currencies(request)[0]
    items = await _session_items(request, api, lines, currency) if lines else []
    total = sum(int(item["line_total"]["amount"]) for item in items)
    remember(session, sum(lines.values()), currency)
    return {"items": items, "total": {"amount": total, "currency": currency}}


async def merge_into_account(request: Request, api: Api, token: str) -> None:
    """After sign-in: the session's lines added to the customer's API cart, then forgotten;
    the account's cart counted either way (the badge and the currency it fixes).

    An account's cart that already has lines keeps its currency: the session's lines join
    it priced in that one (said so), rather than being left out."""
    session = get_session(request)
    lines = basket.lines_of(session.get("cart"))
    if not lines:
        await load_cart(request, api, token)
        return
    ip = client_ip(request)
    cart = await api.json("GET", "/cart", token=token, client_ip=ip)
    have = {line_key(item): int(item["quantity"]) for item in cart.get("items", [])}
    held = _cart_currency(cart)
    mine = session.get("cart_currency")
    skipped = 0
    for variant_id, quantity in lines.items():
        body: dict[str, Any] = {
            "quantity": basket.merged_quantity(have.get(variant_id, 0), quantity)
        }
        if held is None and isinstance(mine, str):
            body["currency"] = mine  # the first line fixes the account's cart's currency
        try:
            await api.call(
                "PUT", path("cart", "items", variant_id), json=body, token=token, client_ip=ip
            )
            held = held or (mine if isinstance(mine, str) else None)
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            skipped += 1
    session.put("cart", {})
    session.put("cart_products", {})
    if skipped:
        session.flash(f"{skipped} product(s) in your cart are no longer sold and were left out.")
    if held and isinstance(mine, str) and held != mine and len(lines) > skipped:
        session.flash(
            f"Your account's cart was already in {held}: the products you added are priced "
            f"in {held} now."
        )
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
    shown = shown_currency(request)
    # The currency the product page showed its price in (one the shop offers, else the shown).
    asked = variants.asked_currency(text(form, "currency", 3))
    currency = asked if asked in shown.offered else shown.code
    back = safe_next(text(form, "next", 2000), default=f"/products/{product_id}")
    try:
        quantity = basket.parse_quantity(text(form, "quantity", 10) or "1")
    except ValueError as error:
        return _back(session, str(error), "error", back)
    who = await shopper_or_none(request)
    if who is None:
        lines = basket.lines_of(session.get("cart"))
        held = session.get("cart_currency")
        if lines and isinstance(held, str) and held != currency:
            return _back(session, currency_refusal(held, currency), "error", back)
        if not lines:
            session.put("cart_currency", currency)
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
    cart: dict[str, Any] = {"items": []}
    try:
        cart = await api.json("GET", "/cart", token=who.token, client_ip=ip)
        have = next((int(i["quantity"]) for i in cart["items"] if line_key(i) == variant_id), 0)
        # Always the shown currency: the first line fixes the cart's in it; a later one in
        # another is refused (cart-currency-fixed) instead of priced in a currency the
        # shopper did not see.
        body: dict[str, Any] = {
            "quantity": min(basket.MAX_QUANTITY, have + quantity),
            "currency": currency,
        }
        await api.call(
            "PUT", path("cart", "items", variant_id), json=body, token=who.token, client_ip=ip
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        held = _cart_currency(cart) if problem.kind == "cart-currency-fixed" else None
        if held:
            remember(session, _count(cart), held)  # the header shows the cart's from now on
            return _back(session, currency_refusal(held, currency), "error", back)
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
