"""A v2 confirmation counts what the shopper paid (shipping and tax in, discounts out); a v2
cancellation takes exactly that back; v1 events still count as before."""

from __future__ import annotations

import uuid

from emporium.contracts.base import EventData
from emporium.contracts.orders import (
    BreakdownDiscount,
    BreakdownShipping,
    BreakdownTax,
    OrderCancelledV2,
    OrderConfirmed,
    OrderConfirmedV2,
    PriceBreakdown,
)
from emporium.contracts.topics import ORDERS_EVENTS
from emporium.customers.testing import Service, ServiceFactory
from emporium.kit.bus.base import Record
from emporium.kit.events import wrap
from emporium.kit.testing import eventually


def _record(data: EventData, key: uuid.UUID) -> Record:
    envelope = wrap(data, source="orders", key=key)
    return Record(
        topic=ORDERS_EVENTS,
        value=envelope.to_bytes(),
        key=str(key).encode(),
        headers=tuple(envelope.headers()),
    )


async def _stats(svc: Service, headers: dict[str, str]) -> tuple[int, int]:
    me = (await svc.client.get("/me", headers=headers)).json()
    return me["order_count"], me["lifetime_spend"]["amount"]


#: 5000 of lines, 500 off by a code, 490 shipping, 950 tax on top: 5940 paid.
PAID = PriceBreakdown(
    currency="USD",
    tax_inclusive=False,
    subtotal_amount=5000,
    discounts=[BreakdownDiscount(code="TEN", name="Ten off", amount=500)],
    shipping=BreakdownShipping(rate_id=uuid.uuid4(), name="Standard", amount=490),
    tax_amount=950,
    tax_lines=[BreakdownTax(name="Sales tax", rate_bp=2000, amount=950)],
    total_amount=5940,
    lines=[],
)


async def test_lifetime_spend_counts_what_was_paid_in_v1_and_v2_events(
    database_url: str, service_factory: ServiceFactory
) -> None:
    async with service_factory(database_url, run_workers=True) as svc:
        customer_id, headers = await svc.customer("payer@example.com")
        customer = uuid.UUID(customer_id)
        paid, cancelled, old = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        common = {"customer_id": customer, "currency": "USD", "total_amount": 5940}
        await svc.resources.require_bus().publish(
            [
                _record(OrderConfirmedV2(order_id=paid, breakdown=PAID, **common), paid),
                _record(OrderConfirmedV2(order_id=cancelled, breakdown=PAID, **common), cancelled),
                _record(
                    OrderCancelledV2(
                        order_id=cancelled,
                        reason="cancelled by the customer",
                        was_confirmed=True,
                        breakdown=PAID,
                        **common,
                    ),
                    cancelled,
                ),
                _record(
                    OrderConfirmed(
                        order_id=old, customer_id=customer, total_amount=1000, currency="USD"
                    ),
                    old,
                ),
            ]
        )

        async def settled() -> bool:
            return await _stats(svc, headers) == (2, 5940 + 1000)

        await eventually(settled, timeout=30)
