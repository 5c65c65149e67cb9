"""Profile and address rules; erasing an account (used by /me and by admins)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.account.schemas import (
    AddressCreate,
    AddressUpdate,
    Money,
    Profile,
)
from emporium.customers.auth.service import revoke_customer_tokens
from emporium.customers.events import customer_deleted, customer_updated
from emporium.customers.models import Address, Customer
from emporium.customers.runtime import Accounts
from emporium.kit.errors import Conflict, NotFound, problem_type
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow

__all__ = [
    "MAX_ADDRESSES",
    "AddressNotFound",
    "add_address",
    "erase_customer",
    "get_address",
    "list_addresses",
    "profile_of",
    "remove_address",
    "rename",
    "update_address",
]

#: Enough for anyone; bounds what one account can make the service store.
MAX_ADDRESSES = 50


class AddressNotFound(NotFound):
    type = problem_type("address-not-found")
    title = "Address not found"


def profile_of(customer: Customer, currency: str) -> Profile:
    return Profile(
        id=customer.id,
        email=customer.email,
        name=customer.name,
        role=customer.role,
        disabled=customer.disabled,
        created_at=customer.created_at,
        order_count=customer.order_count,
        lifetime_spend=Money(amount=customer.lifetime_spend, currency=currency),
    )


async def rename(session: AsyncSession, customer: Customer, name: str) -> None:
    if name != customer.name:
        customer.name = name
        customer.updated_at = utcnow()
        await customer_updated(session, customer)


async def erase_customer(session: AsyncSession, accounts: Accounts, customer: Customer) -> None:
    """Erase personal data, keep an anonymised row (orders refer to it), sign out, publish."""
    await revoke_customer_tokens(session, accounts, customer.id)
    await session.execute(delete(Address).where(Address.customer_id == customer.id))
    now = utcnow()
    customer.email = None
    customer.name = ""
    customer.password_hash = None
    customer.disabled = True
    customer.deleted_at = now
    customer.updated_at = now
    await customer_deleted(session, customer)


async def list_addresses(session: AsyncSession, customer: Customer) -> list[Address]:
    rows = await session.scalars(
        select(Address).where(Address.customer_id == customer.id).order_by(Address.id)
    )
    return list(rows)


async def get_address(session: AsyncSession, customer: Customer, address_id: UUID) -> Address:
    """The customer's address; someone else's is as unknown as a made-up id (404)."""
    address = await session.get(Address, address_id)
    if address is None or address.customer_id != customer.id:
        raise AddressNotFound("no such address")
    return address


async def add_address(session: AsyncSession, customer: Customer, data: AddressCreate) -> Address:
    count = await session.scalar(
        select(func.count()).select_from(Address).where(Address.customer_id == customer.id)
    )
    if (count or 0) >= MAX_ADDRESSES:
        raise Conflict(f"an account keeps at most {MAX_ADDRESSES} addresses")
    now = utcnow()
    address = Address(
        id=uuid7(), customer_id=customer.id, created_at=now, updated_at=now, **data.model_dump()
    )
    session.add(address)
    await session.flush()
    return address


async def update_address(
    session: AsyncSession, customer: Customer, address_id: UUID, data: AddressUpdate
) -> Address:
    address = await get_address(session, customer, address_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("line1", "city", "postal_code", "country"):
        if field in changes and changes[field] is None:
            del changes[field]  # required fields cannot be cleared
    for field, value in changes.items():
        setattr(address, field, value)
    address.updated_at = utcnow()
    await session.flush()
    return address


async def remove_address(session: AsyncSession, customer: Customer, address_id: UUID) -> None:
    address = await get_address(session, customer, address_id)
    await session.delete(address)
