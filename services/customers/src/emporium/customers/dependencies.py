"""FastAPI dependency aliases of the customers service (all ``async``: FastAPI runs a plain
``def`` dependency in its thread pool, a hand-off to a thread on every request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.models import Customer
from emporium.customers.runtime import Accounts
from emporium.kit.app import get_resources, get_session
from emporium.kit.auth.dependencies import AdminPrincipal, CurrentPrincipal
from emporium.kit.errors import Forbidden, Unauthorized

__all__ = ["AccountsDep", "AdminCustomer", "ClientAddress", "CurrentCustomer", "SessionDep"]

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_accounts(request: Request) -> Accounts:
    return get_resources(request).get(Accounts)


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def current_customer(principal: CurrentPrincipal, session: SessionDep) -> Customer:
    """The signed-in customer's row; a valid token of an erased or disabled account is a 401."""
    customer = await session.get(Customer, principal.subject)
    if customer is None or customer.deleted or customer.disabled:
        raise Unauthorized("this account is no longer active")
    return customer


async def admin_customer(principal: AdminPrincipal, session: SessionDep) -> Customer:
    """The signed-in admin; the role is checked again in the database (it may have changed)."""
    customer = await current_customer(principal, session)
    if customer.role != "admin":
        raise Forbidden("this call is for admins only")
    return customer


CurrentCustomer = Annotated[Customer, Depends(current_customer)]
AdminCustomer = Annotated[Customer, Depends(admin_customer)]


async def client_address(request: Request) -> str:
    """The caller's address: uvicorn resolves ``X-Forwarded-For`` from trusted proxies only
    (``<PREFIX>FORWARDED_ALLOW_IPS``), so behind the gateway this is the real client's."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]
