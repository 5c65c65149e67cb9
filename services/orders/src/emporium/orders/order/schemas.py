"""Orders as the API shows them, and the checkout request."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from emporium.orders.common import Money
from emporium.orders.order.state import Status

__all__ = ["Address", "CheckoutIn", "HistoryEntry", "OrderLineOut", "OrderOut", "PaymentIn"]


class Address(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class PaymentIn(BaseModel):
    card_token: str = Field(min_length=1, max_length=255)


class CheckoutIn(BaseModel):
    shipping_address: Address
    payment: PaymentIn


class OrderLineOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    unit_price: Money
    quantity: int


class HistoryEntry(BaseModel):
    status: Status
    reason: str | None
    at: datetime


class OrderOut(BaseModel):
    id: UUID
    customer_id: UUID
    status: Status = Field(
        description="pending until stock and payment settle, then confirmed, rejected (no"
        " stock) or cancelled; shipped once an admin ships it"
    )
    status_reason: str | None
    lines: list[OrderLineOut]
    total: Money
    shipping_address: Address | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]
