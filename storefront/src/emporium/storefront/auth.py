"""Who is signed in, and their API token, as FastAPI dependencies.

- ``ViewerDep``: the signed-in ``Customer`` or None (pages anybody may see);
- ``ShopperDep``: a ``SignedIn`` (customer + a fresh access token); anonymous visitors are
  sent to ``/signin?next=<this page>``;
- ``AdminDep``: the same, for customers with the ``admin`` role only (403 page otherwise).

The access token is refreshed here, server-side, when it expires within
``refresh_margin_seconds``: the browser never sees a token. A refresh the API refuses (the
session was revoked, the customer disabled) signs the visitor out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from emporium.kit.app import get_resources
from emporium.storefront.api import Api, ApiProblem, get_api
from emporium.storefront.session import Session, Tokens, get_session
from emporium.storefront.settings import Settings

__all__ = [
    "AdminDep",
    "Customer",
    "NotAllowed",
    "ShopperDep",
    "SignInRequired",
    "SignedIn",
    "ViewerDep",
    "client_ip",
    "shopper_or_none",
    "sign_in",
    "tokens_from",
]


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    email: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_session(cls, raw: dict[str, Any] | None) -> Customer | None:
        if not raw or not raw.get("id"):
            return None
        return cls(
            str(raw["id"]),
            str(raw.get("email") or ""),
            str(raw.get("name") or ""),
            str(raw.get("role") or "customer"),
        )

    def as_session(self) -> dict[str, str]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role}


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The signed-in customer and an access token valid for a while yet."""

    customer: Customer
    token: str


class SignInRequired(Exception):
    """The page needs a signed-in customer: answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    @property
    def location(self) -> str:
        return "/signin?next=" + quote(self.next_url, safe="/")


class NotAllowed(Exception):
    """A signed-in customer without the role the page needs: answered with a 403 page."""


def client_ip(request: Request) -> str | None:
    """The shopper's address (uvicorn resolved it from the gateway's X-Forwarded-For)."""
    return request.client.host if request.client else None


def tokens_from(answer: dict[str, Any], *, now: float | None = None) -> Tokens:
    """A ``Tokens`` from ``POST /auth/token`` or ``/auth/refresh``'s answer."""
    at = time.time() if now is None else now
    return Tokens(
        str(answer["access_token"]),
        str(answer["refresh_token"]),
        at + float(answer.get("expires_in") or 0),
    )


async def _profile(api: Api, token: str, ip: str | None) -> Customer:
    me = await api.json("GET", "/me", token=token, client_ip=ip)
    return Customer(str(me["id"]), str(me.get("email") or ""), str(me["name"]), str(me["role"]))


async def sign_in(request: Request, email: str, password: str) -> Customer:
    """Sign in through the API and keep the tokens in the session; raises ``ApiProblem``."""
    api, ip = await get_api(request), client_ip(request)
    answer = await api.json(
        "POST", "/auth/token", json={"email": email, "password": password}, client_ip=ip
    )
    tokens = tokens_from(answer)
    customer = await _profile(api, tokens.access, ip)
    get_session(request).sign_in(tokens, customer.as_session())
    return customer


async def _fresh_token(request: Request, session: Session) -> str | None:
    tokens = session.tokens
    if tokens is None:
        return None
    settings = get_resources(request).settings
    assert isinstance(settings, Settings)
    if not tokens.expires_within(settings.refresh_margin_seconds):
        return tokens.access
    api, ip = await get_api(request), client_ip(request)
    try:
        answer = await api.json(
            "POST", "/auth/refresh", json={"refresh_token": tokens.refresh}, client_ip=ip
        )
        fresh = tokens_from(answer)
        # The role may have changed since the last sign-in (an admin demoted someone).
        customer = await _profile(api, fresh.access, ip)
    except ApiProblem as problem:
        if problem.status in (400, 401, 403, 404, 422):
            session.sign_out()
            session.flash("Your session has ended. Please sign in again.")
            return None
        raise
    session.set_tokens(fresh)
    session.set_customer(customer.as_session())
    return fresh.access


def _this_page(request: Request) -> str:
    # Only a GET page is worth coming back to; after a refused POST, the page it came from.
    if request.method == "GET":
        query = request.url.query
        return request.url.path + ("?" + query if query else "")
    return "/"


async def viewer(request: Request) -> Customer | None:
    """The signed-in customer, or None."""
    session = get_session(request)
    if session.tokens is None:
        return None
    return Customer.from_session(session.customer)


async def shopper_or_none(request: Request) -> SignedIn | None:
    """The signed-in customer with a fresh token, or None (pages open to anybody)."""
    session = get_session(request)
    token = await _fresh_token(request, session)
    customer = Customer.from_session(session.customer)
    if token is None or customer is None:
        return None
    return SignedIn(customer, token)


async def shopper(request: Request) -> SignedIn:
    """The signed-in customer with a fresh token; else ``SignInRequired``."""
    session = get_session(request)
    token = await _fresh_token(request, session)
    customer = Customer.from_session(session.customer)
    if token is None or customer is None:
        raise SignInRequired(_this_page(request))
    return SignedIn(customer, token)


async def admin(request: Request) -> SignedIn:
    """``shopper``, and only with the ``admin`` role; else ``NotAllowed``."""
    who = await shopper(request)
    if not who.customer.is_admin:
        raise NotAllowed()
    return who


ViewerDep = Annotated[Customer | None, Depends(viewer)]
ShopperDep = Annotated[SignedIn, Depends(shopper)]
AdminDep = Annotated[SignedIn, Depends(admin)]
