"""Accounts: register, sign in, sign out; the account page (profile, addresses, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import (
    ShopperDep,
    SignedIn,
    ViewerDep,
    client_ip,
    shopper_or_none,
    sign_in,
)
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.address import ADDRESS_FIELDS, COUNTRIES, parse_address
from emporium.storefront.shop.forms import safe_next, text
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


async def _merge_cart(request: Request) -> None:
    from emporium.storefront.shop.cart import merge_into_account

    tokens = get_session(request).tokens
    if tokens is not None:
        await merge_into_account(request, await get_api(request), tokens.access)


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, viewer: ViewerDep) -> Response:
    """The sign-in form."""
    next_url = safe_next(request.query_params.get("next"))
    if viewer is not None:
        return RedirectResponse(next_url, status_code=303)
    return render(request, "shop/signin.html", {"next": next_url, "email": ""})


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    """Sign in; back to the page that asked for it."""
    form = await request.form()
    email, password = text(form, "email", 320), text(form, "password", 1000)
    next_url = safe_next(text(form, "next", 2000))
    try:
        await sign_in(request, email, password)
        await _merge_cart(request)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return render(
            request,
            "shop/signin.html",
            {"next": next_url, "email": email, "feedback": explain(problem, ("email", "password"))},
            status=problem.status if problem.status in (401, 429) else 400,
        )
    get_session(request).flash("You are signed in.")
    return RedirectResponse(next_url, status_code=303)


@router.get("/register", response_class=HTMLResponse)
async def register_page(request: Request) -> Response:
    """The registration form."""
    next_url = safe_next(request.query_params.get("next"))
    return render(request, "shop/register.html", {"next": next_url, "values": {}})


@router.post("/register", response_class=HTMLResponse)
async def register(request: Request, api: ApiDep) -> Response:
    """Create an account and sign in with it."""
    form = await request.form()
    values = {"name": text(form, "name", 200), "email": text(form, "email", 320)}
    password = text(form, "password", 1000)
    next_url = safe_next(text(form, "next", 2000))
    try:
        await api.json(
            "POST",
            "/auth/register",
            json={**values, "password": password},
            client_ip=client_ip(request),
        )
        await sign_in(request, values["email"], password)
        await _merge_cart(request)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        feedback = explain(problem, ("name", "email", "password"))
        return render(
            request,
            "shop/register.html",
            {"next": next_url, "values": values, "feedback": feedback},
            status=409 if problem.status == 409 else 400,
        )
    get_session(request).flash("Welcome! Your account is ready and you are signed in.")
    return RedirectResponse(next_url, status_code=303)


@router.post("/signout")
async def signout(request: Request, api: ApiDep) -> Response:
    """Sign out: the API revokes the tokens, the session forgets them."""
    session = get_session(request)
    try:
        # A fresh token first (refreshed if it was about to expire), so the API can revoke
        # the refresh token too: an expired access token could not sign anything out.
        who = await shopper_or_none(request)
        if who is not None:
            await api.call("POST", "/auth/logout", token=who.token, client_ip=client_ip(request))
    except ApiProblem:
        pass  # revoked already, or the API is away: this browser is signed out all the same
    session.sign_out()
    session.flash("You are signed out.")
    return RedirectResponse("/", status_code=303)


async def _account_page(
    request: Request,
    api: Api,
    who: SignedIn,
    *,
    feedback: Feedback | None = None,
    section: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ip = client_ip(request)
    me = await api.json("GET", "/me", token=who.token, client_ip=ip)
    addresses = await api.json("GET", "/me/addresses", token=who.token, client_ip=ip)
    return render(
        request,
        "shop/account.html",
        {
            "me": me,
            "addresses": addresses or [],
            "countries": COUNTRIES,
            "section": section,
            "values": values or {"country": "DE"},
            "feedback": feedback or Feedback(),
        },
        status=status,
    )


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """The profile, the saved addresses, and deleting the account."""
    return await _account_page(request, api, who)


@router.post("/account/profile", response_class=HTMLResponse)
async def update_profile(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Change the name."""
    form = await request.form()
    name = text(form, "name", 300)
    try:
        me = await api.json(
            "PATCH", "/me", json={"name": name}, token=who.token, client_ip=client_ip(request)
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return await _account_page(
            request, api, who, feedback=explain(problem, ("name",)), section="profile", status=400
        )
    session = get_session(request)
    session.set_customer({**who.customer.as_session(), "name": me.get("name", name)})
    session.flash("Your profile is saved.")
    return RedirectResponse("/account", status_code=303)


@router.post("/account/addresses", response_class=HTMLResponse)
async def add_address(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Save a new address."""
    form = await request.form()
    parsed = parse_address({name: text(form, name, 300) for name in ADDRESS_FIELDS})
    feedback = Feedback()
    for name, message in parsed.errors.items():
        feedback.add(name, message)
    if not parsed.errors:
        try:
            await api.call(
                "POST",
                "/me/addresses",
                json=parsed.body,
                token=who.token,
                client_ip=client_ip(request),
            )
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            feedback = explain(problem, ADDRESS_FIELDS)
    if feedback:
        return await _account_page(
            request, api, who, feedback=feedback, section="address", values=parsed.values,
            status=400,
        )  # fmt: skip
    get_session(request).flash("The address is saved.")
    return RedirectResponse("/account#addresses", status_code=303)


@router.post("/account/addresses/{address_id}/delete")
async def delete_address(
    address_id: str, request: Request, api: ApiDep, who: ShopperDep
) -> Response:
    """Remove a saved address."""
    session = get_session(request)
    try:
        await api.call(
            "DELETE",
            path("me", "addresses", address_id),
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        session.flash(explain(problem).form or "The address could not be removed.", "error")
    else:
        session.flash("The address is removed.")
    return RedirectResponse("/account#addresses", status_code=303)


@router.post("/account/delete", response_class=HTMLResponse)
async def delete_account(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Delete the account (asks for the password): personal data erased, signed out."""
    form = await request.form()
    password = text(form, "password", 1000)
    try:
        await api.call(
            "DELETE",
            "/me",
            json={"password": password},
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        feedback = Feedback()
        if problem.kind == "invalid-credentials":
            feedback.add("delete_password", "That is not your password.")
        else:
            feedback = explain(problem, ())
        return await _account_page(
            request, api, who, feedback=feedback, section="delete", status=400
        )
    session = get_session(request)
    session.sign_out()
    session.flash("Your account is deleted. Goodbye!")
    return RedirectResponse("/", status_code=303)
