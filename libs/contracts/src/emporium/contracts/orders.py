"""Events published by the orders service on ``orders.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts.base import EventData
from emporium.contracts.topics import ORDERS_EVENTS

__all__ = [
    "BreakdownDiscount",
    "BreakdownLine",
    "BreakdownShipping",
    "BreakdownTax",
    "OrderCancelled",
    "OrderCancelledV2",
    "OrderConfirmed",
    "OrderConfirmedV2",
    "OrderLine",
    "OrderPlaced",
    "OrderPlacedV2",
    "OrderRejected",
    "OrderShipped",
    "PriceBreakdown",
]


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    product_id: UUID
    sku: str
    quantity: int = Field(ge=1)
    unit_amount: int
    #: Optional additions (issue 14): lines of orders placed before them name no variant
    #: (their variant is the product's one, of the same id).
    variant_id: UUID | None = Field(default=None, description="The variant bought.")
    options: dict[str, str] = Field(
        default_factory=dict, description="The variant's option values (name: value)."
    )


class _OrdersEvent(EventData):
    topic: ClassVar[str] = ORDERS_EVENTS


class OrderPlaced(_OrdersEvent):
    event_name: ClassVar[str] = "OrderPlaced"
    order_id: UUID
    customer_id: UUID
    lines: list[OrderLine]
    total_amount: int
    currency: str = Field(min_length=3, max_length=3)


class OrderConfirmed(_OrdersEvent):
    event_name: ClassVar[str] = "OrderConfirmed"
    order_id: UUID
    customer_id: UUID
    total_amount: int
    currency: str = Field(min_length=3, max_length=3)


class OrderRejected(_OrdersEvent):
    event_name: ClassVar[str] = "OrderRejected"
    order_id: UUID
    customer_id: UUID
    reason: str


class OrderCancelled(_OrdersEvent):
    event_name: ClassVar[str] = "OrderCancelled"
    order_id: UUID
    customer_id: UUID
    reason: str
    was_confirmed: bool = False
    total_amount: int = 0
    currency: str = Field(default="EUR", min_length=3, max_length=3)


class OrderShipped(_OrdersEvent):
    event_name: ClassVar[str] = "OrderShipped"
    order_id: UUID
    customer_id: UUID


# Version 2 of OrderPlaced, OrderConfirmed and OrderCancelled: each carries the order's price
# breakdown as stored when it was placed (shipping, tax, discounts), and ``total_amount`` is
# what the shopper pays: ``subtotal - discounts + shipping + tax``. Orders publishes only
# these; consumers still read the v1 events that remain in the topic (their total is the
# sum of the lines: no shipping, tax or discount).


class BreakdownDiscount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    code: str | None = Field(description="The code; null for an automatic promotion.")
    name: str
    amount: int = Field(ge=0)


class BreakdownShipping(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    rate_id: UUID
    name: str
    amount: int = Field(ge=0, description="Net of tax when the currency is tax-inclusive.")


class BreakdownTax(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str
    rate_bp: int = Field(ge=0, description="Basis points: 1900 is 19 %.")
    amount: int = Field(ge=0)


class BreakdownLine(BaseModel):
    """One order line's share, in the order of the event's lines."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    product_id: UUID
    entered_amount: int = Field(ge=0, description="Unit amount times quantity, as entered.")
    discount_amount: int = Field(ge=0, description="Taken off the entered amount.")
    tax_amount: int = Field(ge=0)
    total_amount: int = Field(ge=0, description="What the line costs, tax included.")


class PriceBreakdown(BaseModel):
    """Minor units of ``currency``; ``subtotal - discounts + shipping + tax == total``.

    In tax-inclusive currencies the figures are net of tax (the tax is the tax included).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    currency: str = Field(min_length=3, max_length=3)
    tax_inclusive: bool
    subtotal_amount: int = Field(ge=0)
    discounts: list[BreakdownDiscount]
    shipping: BreakdownShipping | None
    tax_amount: int = Field(ge=0)
    tax_lines: list[BreakdownTax]
    total_amount: int = Field(ge=0)
    lines: list[BreakdownLine]


class OrderPlacedV2(_OrdersEvent):
    event_name: ClassVar[str] = "OrderPlaced"
    version: ClassVar[int] = 2
    order_id: UUID
    customer_id: UUID
    lines: list[OrderLine]
    total_amount: int = Field(description="What the shopper pays (the breakdown's total).")
    currency: str = Field(min_length=3, max_length=3)
    breakdown: PriceBreakdown


class OrderConfirmedV2(_OrdersEvent):
    event_name: ClassVar[str] = "OrderConfirmed"
    version: ClassVar[int] = 2
    order_id: UUID
    customer_id: UUID
    total_amount: int = Field(description="What the shopper paid (the breakdown's total).")
    currency: str = Field(min_length=3, max_length=3)
    breakdown: PriceBreakdown


class OrderCancelledV2(_OrdersEvent):
    event_name: ClassVar[str] = "OrderCancelled"
    version: ClassVar[int] = 2
    order_id: UUID
    customer_id: UUID
    reason: str
    was_confirmed: bool
    total_amount: int = Field(description="What the shopper pays (the breakdown's total).")
    currency: str = Field(min_length=3, max_length=3)
    breakdown: PriceBreakdown
