"""Checkout in three steps on one page: the address (saved or new), the shipping method,
then a test card and the order placed.

Each step is a plain form of its own, so it works without JavaScript (htmx, where it runs,
only boosts them): the address goes to the cart (``PUT /cart/shipping-address``), which
answers with the shipping options for it; the chosen option goes to the cart too
(``PUT /cart/shipping-method``); ``POST /orders`` then takes the cart's address and method
and only the card is sent. Every answer is the priced cart, so the breakdown beside the
steps is always the API's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api
from emporium.storefront.auth import ShopperDep, SignedIn, client_ip
from emporium.storefront.breakdown import refusal_message
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.address import ADDRESS_FIELDS, COUNTRIES, parse_address
from emporium.storefront.shop.cart import load_cart, remember
from emporium.storefront.shop.forms import text
from emporium.storefront.shop.steps import matching_address, steps_of
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
#: The order's problems the page says beside a step rather than above the form.
_STEP_PROBLEMS = {
    "shipping-method-required": ("shipping", "Choose a shipping method first."),
    "shipping-address-required": ("address_id", "Choose where to ship the order first."),
    "shipping-method-not-offered": (
        "shipping",
        "That shipping method is not offered for this cart any more. Choose another one.",
    ),
}


async def _saved_addresses(request: Request, api: Api, who: SignedIn) -> list[dict[str, Any]]:
    found = await api.json("GET", "/me/addresses", token=who.token, client_ip=client_ip(request))
    return list(found if isinstance(found, list) else found.get("items", []))


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
    addresses = await _saved_addresses(request, api, who)
    steps = steps_of(cart)
    chosen = dict(values or {})
    saved_id = matching_address(steps.address, addresses)
    if steps.address is not None and saved_id is None:
        # The cart ships to an address typed here earlier: show it in the new-address form.
        chosen.setdefault("address_id", "new")
        for name in ADDRESS_FIELDS:
            chosen.setdefault(name, str(steps.address.get(name) or ""))
    chosen.setdefault("address_id", saved_id or (str(addresses[0]["id"]) if addresses else "new"))
    chosen.setdefault("card", "tok_visa")
    chosen.setdefault("country", "DE")
    chosen.setdefault("shipping", steps.method_id or "")
    return render(
        request,
        "shop/checkout.html",
        {
            "cart": cart,
            "steps": steps,
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


def _feedback(problem: ApiProblem, fields: tuple[str, ...]) -> Feedback:
    step = _STEP_PROBLEMS.get(problem.kind)
    reason = problem.extra.get("reason")
    feedback = Feedback()
    if step is not None:
        feedback.add(*step)
    elif problem.status == 422 and isinstance(reason, str):
        # The cart's code could not be reserved when the order was placed (used up since).
        feedback.add("_form", refusal_message(reason, problem.detail))
    else:
        return explain(problem, fields)
    return feedback


def _status(problem: ApiProblem) -> int:
    return problem.status if problem.status in (409, 422) else 400


@router.get("/checkout", response_class=HTMLResponse)
async def checkout_page(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """The checkout: address, shipping method, card."""
    return await _page(request, api, who)


@router.get("/checkout/address")
@router.get("/checkout/shipping")
async def back_to_checkout() -> Response:
    """A step's address opened directly (after signing in): the checkout page."""
    return RedirectResponse("/checkout", status_code=303)


@router.post("/checkout/address", response_class=HTMLResponse)
async def choose_address(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Step 1: ship to a saved address or a new one (saved to the account if asked)."""
    form = await request.form()
    values = {name: text(form, name, 300) for name in (*ADDRESS_FIELDS, "address_id")}
    values["save_address"] = text(form, "save_address", 10)
    feedback = Feedback()
    ip = client_ip(request)
    address: dict[str, Any] | None = None
    if values["address_id"] and values["address_id"] != "new":
        saved = await _saved_addresses(request, api, who)
        found = next((a for a in saved if str(a["id"]) == values["address_id"]), None)
        if found is None:
            feedback.add("address_id", "That address no longer exists. Choose another one.")
        else:
            address = {k: found.get(k) for k in ADDRESS_FIELDS}
    else:
        parsed = parse_address(values)
        for name, message in parsed.errors.items():
            feedback.add(name, message)
        address = None if parsed.errors else parsed.body
    if feedback or address is None:
        return await _page(request, api, who, values=values, feedback=feedback, status=400)
    try:
        if values["address_id"] in ("", "new") and values["save_address"]:
            await api.call("POST", "/me/addresses", json=address, token=who.token, client_ip=ip)
        cart = await api.json(
            "PUT", "/cart/shipping-address", json=address, token=who.token, client_ip=ip
        )
    except ApiProblem as problem:
        if problem.status >= 500 and problem.status != 503:
            raise
        feedback = _feedback(problem, ADDRESS_FIELDS)
        return await _page(request, api, who, values=values, feedback=feedback, status=400)
    anchor = "shipping" if steps_of(cart or {}).needs_method else "payment"
    return RedirectResponse(f"/checkout#{anchor}", status_code=303)


@router.post("/checkout/shipping", response_class=HTMLResponse)
async def choose_shipping(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Step 2: the shipping method, one of those offered for the cart's address."""
    form = await request.form()
    rate_id = text(form, "shipping", 64)
    if not rate_id:
        feedback = Feedback()
        feedback.add("shipping", "Choose a shipping method.")
        return await _page(request, api, who, feedback=feedback, status=400)
    try:
        await api.call(
            "PUT",
            "/cart/shipping-method",
            json={"id": rate_id},
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status >= 500 and problem.status != 503:
            raise
        feedback = Feedback()
        if problem.status == 422:
            feedback.add("shipping", _STEP_PROBLEMS["shipping-method-not-offered"][1])
        else:
            feedback = _feedback(problem, ("shipping",))
        return await _page(request, api, who, feedback=feedback, status=_status(problem))
    return RedirectResponse("/checkout#payment", status_code=303)


@router.post("/checkout", response_class=HTMLResponse)
async def place_order(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Step 3: place the order (the cart's address and method); then its page, live."""
    form = await request.form()
    values = {"card": text(form, "card", 64)}
    key = text(form, "checkout_key", 64) or str(uuid.uuid4())
    feedback = Feedback()
    card = values["card"] if values["card"] in TEST_CARDS else ""
    if not card:
        feedback.add("card", "Choose a test card.")
    ip = client_ip(request)
    cart = await load_cart(request, api, who.token)
    missing = steps_of(cart).missing() if cart.get("items") else None
    if missing is not None:
        feedback.add(*missing)
    if feedback:
        return await _page(request, api, who, values=values, feedback=feedback, status=400)
    try:
        order = await api.json(
            "POST",
            "/orders",
            json={"payment": {"card_token": card}},
            headers={"Idempotency-Key": key},
            token=who.token,
            client_ip=ip,
        )
    except ApiProblem as problem:
        if problem.status >= 500 and problem.status != 503:
            raise
        feedback = _feedback(problem, (*ADDRESS_FIELDS, "card", "shipping"))
        return await _page(
            request, api, who, values=values, feedback=feedback, status=_status(problem)
        )
    session = get_session(request)
    remember(session, 0, None)  # an ordered cart fixes no currency any more
    session.flash("Thank you! Your order is placed.")
    return RedirectResponse(f"/orders/{order['id']}", status_code=303)
