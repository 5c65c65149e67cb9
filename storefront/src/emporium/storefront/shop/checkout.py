"""Checkout: an address (a saved one or a new one), a test card, and the order placed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api
from emporium.storefront.auth import ShopperDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.address import ADDRESS_FIELDS, COUNTRIES, parse_address
from emporium.storefront.shop.cart import load_cart
from emporium.storefront.shop.forms import text
from emporium.storefront.web import render

__all__ = ["TEST_CARDS", "router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]

#: The simulated provider's card tokens: every token but these two is approved.
TEST_CARDS: dict[str, str] = {
    "tok_visa": "Test card: payment approved",
    "tok_decline": "Test card: payment declined",
    "tok_error": "Test card: payment provider unavailable",
}


async def _page(
    request: Request,
    api: Api,
    who: SignedIn,
    *,
    values: dict[str, str] | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> Response:
    cart = await load_cart(request, api, who.token)
    if not cart.get("items"):
        get_session(request).flash("Your cart is empty: add a product before checking out.")
        return RedirectResponse("/cart", status_code=303)
    addresses = await api.json(
        "GET", "/me/addresses", token=who.token, client_ip=client_ip(request)
    )
    addresses = addresses if isinstance(addresses, list) else addresses.get("items", [])
    chosen = dict(values or {})
    chosen.setdefault("address_id", str(addresses[0]["id"]) if addresses else "new")
    chosen.setdefault("card", "tok_visa")
    chosen.setdefault("country", "DE")
    return render(
        request,
        "shop/checkout.html",
        {
            "cart": cart,
            "addresses": addresses,
            "values": chosen,
            "countries": COUNTRIES,
            "cards": TEST_CARDS,
            # A new key per form shown: resending this form (a double click, a reload after
            # a lost answer) places one order; a corrected form after an error is a new one.
            "checkout_key": str(uuid.uuid4()),
            "feedback": feedback or Feedback(),
        },
        status=status,
    )


@router.get("/checkout", response_class=HTMLResponse)
async def checkout_page(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """The checkout form."""
    return await _page(request, api, who)


@router.post("/checkout", response_class=HTMLResponse)
async def place_order(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Place the order; then its page, where the status changes live."""
    form = await request.form()
    values = {name: text(form, name, 300) for name in (*ADDRESS_FIELDS, "address_id", "card")}
    values["save_address"] = text(form, "save_address", 10)
    key = text(form, "checkout_key", 64) or str(uuid.uuid4())
    feedback = Feedback()
    card = values["card"] if values["card"] in TEST_CARDS else ""
    if not card:
        feedback.add("card", "Choose a test card.")
    ip = client_ip(request)
    address: dict[str, Any] | None = None
    if values["address_id"] and values["address_id"] != "new":
        saved = await api.json("GET", "/me/addresses", token=who.token, client_ip=ip)
        saved = saved if isinstance(saved, list) else saved.get("items", [])
        found = next((a for a in saved if str(a["id"]) == values["address_id"]), None)
        if found is None:
            feedback.add("address_id", "That address no longer exists. Choose another one.")
        else:
            address = {k: found.get(k) for k in ADDRESS_FIELDS}
    else:
        parsed = parse_address(values)
        for name, message in parsed.errors.items():
            feedback.add(name, message)
        if not parsed.errors:
            address = parsed.body
    if feedback or address is None:
        return await _page(request, api, who, values=values, feedback=feedback, status=400)
    try:
        if values["address_id"] in ("", "new") and values["save_address"]:
            await api.call("POST", "/me/addresses", json=address, token=who.token, client_ip=ip)
        order = await api.json(
            "POST",
            "/orders",
            json={"shipping_address": address, "payment": {"card_token": card}},
            headers={"Idempotency-Key": key},
            token=who.token,
            client_ip=ip,
        )
    except ApiProblem as problem:
        if problem.status >= 500 and problem.status != 503:
            raise
        feedback = explain(problem, (*ADDRESS_FIELDS, "card"))
        return await _page(
            request,
            api,
            who,
            values=values,
            feedback=feedback,
            status=409 if problem.status == 409 else 400,
        )
    session = get_session(request)
    session.put("cart_count", 0)
    session.flash("Thank you! Your order is placed.")
    return RedirectResponse(f"/orders/{order['id']}", status_code=303)
