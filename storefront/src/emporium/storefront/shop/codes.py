"""Discount codes on the cart: apply one (``POST /cart/codes``), remove it.

A refused code (the API's 422 with a ``reason``) is said in plain words beside the code
field on the cart page, with what was typed left in it. The API keeps at most one code on
a cart: a new one replaces the one before.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import ShopperDep, client_ip
from emporium.storefront.breakdown import refusal_message
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.cart import load_cart
from emporium.storefront.shop.forms import text
from emporium.storefront.web import render

__all__ = ["MAX_CODE", "code_feedback", "router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]
#: Longer than any code the API stores; a longer text is refused here, not sent.
MAX_CODE = 64


def code_feedback(problem: ApiProblem) -> Feedback:
    """The API's refusal of a code as the message beside the code field."""
    reason = problem.extra.get("reason")
    if problem.status == 422 and isinstance(reason, str):
        feedback = Feedback()
        feedback.add("code", refusal_message(reason, problem.detail))
        return feedback
    return explain(problem, ("code",))


@router.post("/cart/codes", response_class=HTMLResponse)
async def apply_code(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Apply a discount code to the cart (it replaces the one applied before)."""
    form = await request.form()
    raw = form.get("code")
    code = raw.strip() if isinstance(raw, str) else ""
    feedback = Feedback()
    if not code:
        feedback.add("code", "Enter a discount code.")
    elif len(code) > MAX_CODE:
        feedback.add("code", refusal_message("unknown"))
    else:
        try:
            await api.call(
                "POST",
                "/cart/codes",
                json={"code": code},
                token=who.token,
                client_ip=client_ip(request),
            )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            feedback = code_feedback(problem)
    if feedback:
        cart = await load_cart(request, api, who.token)
        return render(
            request,
            "shop/cart.html",
            {"cart": cart, "signed_in": True, "code_value": code[:MAX_CODE], "feedback": feedback},
            status=422,
        )
    get_session(request).flash(f"The code {code.upper()} is applied.")
    return RedirectResponse("/cart", status_code=303)


@router.post("/cart/codes/remove")
async def remove_code(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Take a discount code off the cart."""
    form = await request.form()
    code = text(form, "code", MAX_CODE)
    session = get_session(request)
    if code:
        try:
            await api.call(
                "DELETE",
                path("cart", "codes", code),
                token=who.token,
                client_ip=client_ip(request),
            )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            session.flash(explain(problem).form or "The code could not be removed.", "error")
            return RedirectResponse("/cart", status_code=303)
    session.flash("The code is removed.")
    return RedirectResponse("/cart", status_code=303)
