"""Admin rules: search, edit (name, role, disabled), delete; each change audited + published."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.account.service import erase_customer, profile_of
from emporium.customers.admin.schemas import AdminCustomer, AdminCustomerUpdate
from emporium.customers.auth.service import revoke_customer_tokens
from emporium.customers.events import customer_updated
from emporium.customers.models import AuditEntry, Customer
from emporium.customers.runtime import Accounts
from emporium.kit.errors import Conflict, NotFound, Unprocessable, problem_type
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow

__all__ = [
    "CustomerNotFound",
    "audit",
    "audit_trail",
    "delete_customer",
    "get_customer",
    "search",
    "to_admin",
    "update_customer",
]


class CustomerNotFound(NotFound):
    type = problem_type("customer-not-found")
    title = "Customer not found"


def to_admin(customer: Customer, currency: str) -> AdminCustomer:
    return AdminCustomer(
        **profile_of(customer, currency).model_dump(),
        deleted=customer.deleted,
        updated_at=customer.updated_at,
    )


def _encode_cursor(customer_id: UUID) -> str:
    return base64.urlsafe_b64encode(customer_id.bytes).decode().rstrip("=")


def _decode_cursor(cursor: str) -> UUID:
    try:
        return UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise Unprocessable("the cursor is not one this API gave out") from None


async def search(
    session: AsyncSession, *, q: str | None, limit: int, cursor: str | None
) -> tuple[list[Customer], str | None]:
    """Customers matching ``q`` (part of the email or name), oldest first (ids are UUIDv7)."""
    query = select(Customer).order_by(Customer.id).limit(limit + 1)
    if q:
        pattern = (
            "%"
            + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        query = query.where(
            or_(
                Customer.email.like(pattern, escape="\\"),
                Customer.name.ilike(pattern, escape="\\"),
            )
        )
    if cursor:
        query = query.where(Customer.id > _decode_cursor(cursor))
    rows = list(await session.scalars(query))
    if len(rows) > limit:
        return rows[:limit], _encode_cursor(rows[limit - 1].id)
    return rows, None


async def get_customer(session: AsyncSession, customer_id: UUID) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound("no such customer")
    return customer


async def audit(
    session: AsyncSession,
    *,
    actor: Customer | None,
    customer_id: UUID,
    action: str,
    changes: dict[str, Any],
) -> None:
    session.add(
        AuditEntry(
            id=uuid7(),
            actor_id=actor.id if actor is not None else None,
            customer_id=customer_id,
            action=action,
            changes=changes,
            at=utcnow(),
        )
    )
    await session.flush()


async def audit_trail(session: AsyncSession, customer_id: UUID) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.customer_id == customer_id).order_by(AuditEntry.id)
    )
    return list(rows)


async def update_customer(
    session: AsyncSession,
    accounts: Accounts,
    actor: Customer,
    customer_id: UUID,
    data: AdminCustomerUpdate,
) -> Customer:
    """Apply the given fields; disabling signs the customer out everywhere."""
    customer = await get_customer(session, customer_id)
    if customer.deleted:
        raise Conflict("this account was deleted; there is nothing left to edit")
    wanted = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if customer.id == actor.id and (
        wanted.get("role", "admin") != "admin" or wanted.get("disabled", False)
    ):
        raise Conflict("admins cannot demote or disable themselves")
    changes = {
        field: {"from": getattr(customer, field), "to": value}
        for field, value in wanted.items()
        if getattr(customer, field) != value
    }
    if not changes:
        return customer
    for field, change in changes.items():
        setattr(customer, field, change["to"])
    customer.updated_at = utcnow()
    if customer.disabled or "role" in changes:
        # Disabled: no token may work. New role: tokens carrying the old one must go.
        await revoke_customer_tokens(session, accounts, customer.id)
    await audit(session, actor=actor, customer_id=customer.id, action="update", changes=changes)
    await customer_updated(session, customer)
    return customer


async def delete_customer(
    session: AsyncSession, accounts: Accounts, actor: Customer, customer_id: UUID
) -> None:
    customer = await get_customer(session, customer_id)
    if customer.id == actor.id:
        raise Conflict("admins cannot delete their own account here; use DELETE /me")
    if customer.deleted:
        return
    await erase_customer(session, accounts, customer)
    await audit(session, actor=actor, customer_id=customer.id, action="delete", changes={})
