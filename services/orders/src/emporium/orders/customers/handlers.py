"""``CustomerDeleted``: orders keep their lines and totals, lose the personal data."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.customers import CustomerDeleted
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope
from emporium.kit.outbox import utcnow
from emporium.orders.cart import repository as carts
from emporium.orders.order.repository import erase_personal_data

__all__ = ["CUSTOMER_HANDLERS"]


async def _customer_deleted(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.parse(CustomerDeleted)
    await erase_personal_data(session, data.customer_id, utcnow())
    await carts.clear(session, data.customer_id)


CUSTOMER_HANDLERS: Mapping[str, Handler] = {CustomerDeleted.type_name(): _customer_deleted}
