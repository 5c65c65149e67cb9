"""Accounts: register, sign in, sign out; the account page (profile, addresses, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.api import Api, ApiProblem, get_api
from emporium.storefront.auth import ViewerDep, client_ip, sign_in
from emporium.storefront.problems import explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.forms import safe_next, text
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


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
    tokens = session.tokens
    if tokens is not None:
        try:
            await api.call(
                "POST", "/auth/logout", token=tokens.access, client_ip=client_ip(request)
            )
        except ApiProblem:
            pass  # an expired or revoked token: signed out all the same
    session.sign_out()
    session.flash("You are signed out.")
    return RedirectResponse("/", status_code=303)
