"""Catalog reads OrderPlaced and OrderCancelled in version 2 (with the breakdown) as in v1."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy import select

from emporium.catalog.handlers import HANDLERS
from emporium.catalog.models import DEFAULT_LOCATION, OrderReservation, StockLevel
from emporium.catalog.testing import running_catalog
from emporium.contracts.orders import (
    BreakdownLine,
    OrderCancelledV2,
    OrderLine,
    OrderPlacedV2,
    PriceBreakdown,
)
from emporium.kit.events import wrap


def _breakdown(product_id: UUID) -> PriceBreakdown:
    return PriceBreakdown(
        currency="EUR",
        tax_inclusive=True,
        subtotal_amount=168,
        discounts=[],
        shipping=None,
        tax_amount=32,
        tax_lines=[],
        total_amount=200,
        lines=[
            BreakdownLine(
                product_id=product_id,
                entered_amount=200,
                discount_amount=0,
                tax_amount=32,
                total_amount=200,
            )
        ],
    )


async def test_a_v2_order_reserves_and_its_v2_cancellation_releases(
    database_url: str, tmp_path: Path
) -> None:
    async with running_catalog(database_url, tmp_path, settings={"run_workers": False}) as catalog:
        product = await catalog.product()
        await catalog.stock(product["id"], 5)
        order_id, customer_id, pid = uuid4(), uuid4(), UUID(product["id"])
        placed = OrderPlacedV2(
            order_id=order_id,
            customer_id=customer_id,
            lines=[OrderLine(product_id=pid, sku="x", quantity=2, unit_amount=100)],
            total_amount=200,
            currency="EUR",
            breakdown=_breakdown(pid),
        )
        cancelled = OrderCancelledV2(
            order_id=order_id,
            customer_id=customer_id,
            reason="cancelled by the customer",
            was_confirmed=False,
            total_amount=200,
            currency="EUR",
            breakdown=_breakdown(pid),
        )

        async def reserved() -> tuple[str, int]:
            async with catalog.database.session() as session:
                status = await session.scalar(
                    select(OrderReservation.status).where(OrderReservation.order_id == order_id)
                )
                held = await session.scalar(
                    select(StockLevel.reserved).where(
                        StockLevel.variant_id == pid, StockLevel.location_code == DEFAULT_LOCATION
                    )
                )
            return str(status), int(held or 0)

        for event, expected in ((placed, ("reserved", 2)), (cancelled, ("released", 0))):
            async with catalog.database.session() as session:
                await HANDLERS[event.type_name()](
                    session, wrap(event, source="orders", key=order_id)
                )
            assert await reserved() == expected
