"""The header's currency picker: ``POST /currency`` remembers the visitor's choice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from emporium.kit.app import get_resources
from emporium.storefront import currency as currencies
from emporium.storefront.session import get_session
from emporium.storefront.settings import Settings
from emporium.storefront.shop.forms import safe_next, text
from emporium.storefront.web import offered_currencies, shown_currency

__all__ = ["router"]

router = APIRouter()


@router.post("/currency")
async def choose_currency(request: Request) -> Response:
    """Keep the picked currency in a cookie and go back to the page it was picked on.

    Anything but an offered currency is the base one (a stale form, a hand-made post). A
    cart with lines keeps its own currency: the pick is kept for after, and said so."""
    form = await request.form()
    offered = offered_currencies(request)
    code = currencies.parse_choice(text(form, "currency", 8), offered)
    back = safe_next(text(form, "next", 2000))
    now = shown_currency(request)
    if now.fixed_by_cart and code != now.code:
        get_session(request).flash(
            f"Your cart is in {now.code}, the currency of its first product: prices stay in "
            f"{now.code} until it is empty or ordered, then they are shown in {code}.",
            "error",
        )
    response = RedirectResponse(back, status_code=303)
    settings = get_resources(request).settings
    response.set_cookie(
        currencies.COOKIE,
        code,
        max_age=currencies.COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=isinstance(settings, Settings) and settings.secure_cookies,
    )
    return response
