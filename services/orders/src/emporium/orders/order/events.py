"""The events an order's changes publish, with the price breakdown stored on the order.

``OrderPlaced``, ``OrderConfirmed`` and ``OrderCancelled`` go out as version 2 (they carry
the breakdown); ``OrderRejected`` and ``OrderShipped`` did not change.
"""

from __future__ import annotations

from collections.abc import Sequence

from emporium.contracts.orders import (
    BreakdownDiscount,
    BreakdownLine,
    BreakdownShipping,
    BreakdownTax,
    OrderCancelledV2,
    OrderConfirmedV2,
    OrderPlacedV2,
    OrderRejected,
    OrderShipped,
    PriceBreakdown,
)
from emporium.contracts.orders import OrderLine as OrderLineEvent
from emporium.orders import pricing
from emporium.orders.models import CustomerOrder, OrderLine
from emporium.orders.order.breakdown import unpriced
from emporium.orders.order.state import Status, Transition

__all__ = ["StatusEvent", "event_breakdown", "placed_event", "status_event", "stored_breakdown"]

StatusEvent = OrderConfirmedV2 | OrderRejected | OrderCancelledV2 | OrderShipped


def stored_breakdown(order: CustomerOrder) -> pricing.Breakdown:
    """The breakdown stored when the order was placed (orders from before: their total)."""
    if order.breakdown is None:
        return unpriced(order.total_amount, order.currency)
    return pricing.Breakdown.from_json(order.breakdown)


def event_breakdown(order: CustomerOrder, lines: Sequence[OrderLine]) -> PriceBreakdown:
    """The order's stored breakdown as the events carry it; ``lines`` (the order's) give
    the lines' figures of an order placed before checkout pricing stored them."""
    breakdown = stored_breakdown(order)
    shipping = breakdown.shipping
    totals = breakdown.lines or tuple(
        pricing.LineTotals(
            product_id=line.product_id,
            entered=line.unit_amount * line.quantity,
            discount=0,
            tax=0,
            total=line.unit_amount * line.quantity,
        )
        for line in lines
    )
    return PriceBreakdown(
        currency=breakdown.currency,
        tax_inclusive=breakdown.tax_inclusive,
        subtotal_amount=breakdown.subtotal,
        discounts=[
            BreakdownDiscount(code=d.code, name=d.name, amount=d.amount)
            for d in breakdown.discounts
        ],
        shipping=None
        if shipping is None
        else BreakdownShipping(
            rate_id=shipping.rate_id, name=shipping.name, amount=shipping.amount
        ),
        tax_amount=breakdown.tax,
        tax_lines=[
            BreakdownTax(name=t.name, rate_bp=t.rate_bp, amount=t.amount)
            for t in breakdown.tax_lines
        ],
        total_amount=breakdown.total,
        lines=[
            BreakdownLine(
                product_id=t.product_id,
                entered_amount=t.entered,
                discount_amount=t.discount,
                tax_amount=t.tax,
                total_amount=t.total,
            )
            for t in totals
        ],
    )


def placed_event(order: CustomerOrder, lines: Sequence[OrderLine]) -> OrderPlacedV2:
    return OrderPlacedV2(
        order_id=order.id,
        customer_id=order.customer_id,
        lines=[
            OrderLineEvent(
                product_id=line.product_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                variant_id=line.variant_id,
                options=line.options or {},
            )
            for line in lines
        ],
        total_amount=order.total_amount,
        currency=order.currency,
        breakdown=event_breakdown(order, lines),
    )


def status_event(
    order: CustomerOrder, lines: Sequence[OrderLine], step: Transition, reason: str | None
) -> StatusEvent:
    """The event of ``step`` (an allowed change of the order's status)."""
    if step.target is Status.CONFIRMED:
        return OrderConfirmedV2(
            order_id=order.id,
            customer_id=order.customer_id,
            total_amount=order.total_amount,
            currency=order.currency,
            breakdown=event_breakdown(order, lines),
        )
    if step.target is Status.REJECTED:
        return OrderRejected(order_id=order.id, customer_id=order.customer_id, reason=reason or "")
    if step.target is Status.CANCELLED:
        return OrderCancelledV2(
            order_id=order.id,
            customer_id=order.customer_id,
            reason=reason or "",
            was_confirmed=step.source is Status.CONFIRMED,
            total_amount=order.total_amount,
            currency=order.currency,
            breakdown=event_breakdown(order, lines),
        )
    return OrderShipped(order_id=order.id, customer_id=order.customer_id)
