"""The service's outbox and the events it publishes about a customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.customers import CustomerDeleted, CustomerRegistered, CustomerUpdated
from emporium.customers.models import Customer
from emporium.kit.outbox import Outbox

__all__ = ["OUTBOX", "customer_deleted", "customer_registered", "customer_updated"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="customers")


async def customer_registered(session: AsyncSession, customer: Customer) -> None:
    assert customer.email is not None
    await OUTBOX.add(
        session,
        CustomerRegistered(
            customer_id=customer.id, email=customer.email, display_name=customer.name
        ),
        key=customer.id,
    )


async def customer_updated(session: AsyncSession, customer: Customer) -> None:
    await OUTBOX.add(
        session,
        CustomerUpdated(
            customer_id=customer.id,
            display_name=customer.name,
            role=customer.role,
            disabled=customer.disabled,
        ),
        key=customer.id,
    )


async def customer_deleted(session: AsyncSession, customer: Customer) -> None:
    await OUTBOX.add(session, CustomerDeleted(customer_id=customer.id), key=customer.id)
