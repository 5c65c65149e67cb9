"""/admin/customers: search, view, edit, disable, delete (admins only)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from emporium.customers.admin import service
from emporium.customers.admin.schemas import (
    AdminCustomer,
    AdminCustomerPage,
    AdminCustomerUpdate,
    AuditOut,
)
from emporium.customers.dependencies import AccountsDep, SessionDep
from emporium.customers.dependencies import AdminCustomer as AdminDep
from emporium.kit.errors import Conflict, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/admin/customers", tags=["admin"])


_NO_CUSTOMER = (service.CustomerNotFound, "No customer has this id")


@router.get("", response_model=AdminCustomerPage, operation_id="searchCustomers")
async def search_customers(
    admin: AdminDep,
    session: SessionDep,
    accounts: AccountsDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    """Customers by email or name, with order count and lifetime spend."""
    rows, next_cursor = await service.search(session, q=q, limit=limit, cursor=cursor)
    currency = accounts.settings.currency
    return AdminCustomerPage(
        items=[service.to_admin(row, currency) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/{customer_id}",
    response_model=AdminCustomer,
    operation_id="getCustomer",
    responses=problem_responses(_NO_CUSTOMER),
)
async def get_customer(
    customer_id: UUID, admin: AdminDep, session: SessionDep, accounts: AccountsDep
) -> Any:
    """One customer record."""
    customer = await service.get_customer(session, customer_id)
    return service.to_admin(customer, accounts.settings.currency)


@router.patch(
    "/{customer_id}",
    response_model=AdminCustomer,
    operation_id="updateCustomer",
    responses=problem_responses(
        _NO_CUSTOMER,
        (Conflict, "The account was deleted, or an admin would demote or disable themselves"),
    ),
)
async def update_customer(
    customer_id: UUID,
    body: AdminCustomerUpdate,
    admin: AdminDep,
    session: SessionDep,
    accounts: AccountsDep,
) -> Any:
    """Change a customer's name, role or disabled flag (disabling signs them out)."""
    customer = await service.update_customer(session, accounts, admin, customer_id, body)
    return service.to_admin(customer, accounts.settings.currency)


@router.delete(
    "/{customer_id}",
    status_code=204,
    operation_id="deleteCustomer",
    responses=problem_responses(
        _NO_CUSTOMER, (Conflict, "An admin's own account (they use DELETE /me)")
    ),
)
async def delete_customer(
    customer_id: UUID, admin: AdminDep, session: SessionDep, accounts: AccountsDep
) -> Response:
    """Delete a customer's account (personal data erased, anonymised row kept)."""
    await service.delete_customer(session, accounts, admin, customer_id)
    return Response(status_code=204)


@router.get(
    "/{customer_id}/audit",
    response_model=list[AuditOut],
    operation_id="getCustomerAudit",
    responses=problem_responses(_NO_CUSTOMER),
)
async def customer_audit(customer_id: UUID, admin: AdminDep, session: SessionDep) -> Any:
    """Who changed this customer record, when, and what."""
    await service.get_customer(session, customer_id)
    return await service.audit_trail(session, customer_id)
