"""Events published by the orders service on ``orders.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts.base import EventData
from emporium.contracts.topics import ORDERS_EVENTS

__all__ = [
    "OrderCancelled",
    "OrderConfirmed",
    "OrderLine",
    "OrderPlaced",
    "OrderRejected",
    "OrderShipped",
]


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    product_id: UUID
    sku: str
    quantity: int = Field(ge=1)
    unit_amount: int


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
