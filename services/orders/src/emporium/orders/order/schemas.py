"""Orders as the API shows them, and the checkout request."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from emporium.orders.common import Money
from emporium.orders.order.breakdown import PricedOut
from emporium.orders.order.state import Status

__all__ = ["Address", "CheckoutIn", "HistoryEntry", "OrderLineOut", "OrderOut", "PaymentIn"]


class Address(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9]{1,3}$",
        description="ISO 3166-2 subdivision without its country (`CA` of `US-CA`): regional "
        "tax rates apply to it.",
    )


class PaymentIn(BaseModel):
    card_token: str = Field(min_length=1, max_length=255)


_ADDRESS: JsonDict = {
    "line1": "1 Main Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class CheckoutIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"payment": {"card_token": "tok_visa"}},
                {"shipping_address": _ADDRESS, "payment": {"card_token": "tok_visa"}},
            ]
        }
    )

    shipping_address: Address | None = Field(
        default=None,
        description="Where to ship; omitted: the cart's (`PUT /cart/shipping-address`).",
    )
    payment: PaymentIn


class OrderLineOut(BaseModel):
    product_id: UUID
    variant_id: UUID = Field(description="The variant bought (no options: the product's id).")
    options: dict[str, str] = Field(description="The variant's option values ({}: none).")
    sku: str
    name: str
    unit_price: Money = Field(description="As entered when the order was placed.")
    quantity: int
    line_total: Money = Field(description="Unit price times quantity, as entered.")
    discount: Money = Field(description="The line's share of the discounts (entered prices).")
    tax: Money = Field(description="The line's tax (included in it when tax-inclusive).")


class HistoryEntry(BaseModel):
    status: Status
    reason: str | None
    at: datetime


class OrderOut(PricedOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0196a5a1-0d2e-7000-8000-000000000001",
                    "customer_id": "0196a59f-11aa-7000-8000-000000000001",
                    "status": "confirmed",
                    "status_reason": None,
                    "lines": [
                        {
                            "product_id": "0196a5a0-7c1e-7000-8000-000000000001",
                            "variant_id": "0196a5a0-7c1e-7000-8000-000000000001",
                            "options": {},
                            "sku": "TEA-SENCHA-100",
                            "name": "Sencha, 100 g",
                            "unit_price": {"amount": 1290, "currency": "EUR"},
                            "quantity": 2,
                            "line_total": {"amount": 2580, "currency": "EUR"},
                            "discount": {"amount": 258, "currency": "EUR"},
                            "tax": {"amount": 371, "currency": "EUR"},
                        }
                    ],
                    "subtotal": {"amount": 2168, "currency": "EUR"},
                    "discounts": [
                        {
                            "code": "WELCOME10",
                            "name": "Welcome",
                            "amount": {"amount": 217, "currency": "EUR"},
                        }
                    ],
                    "shipping": {
                        "id": "0196a5a2-0000-7000-8000-000000000001",
                        "name": "Standard",
                        "amount": {"amount": 412, "currency": "EUR"},
                    },
                    "tax": {
                        "amount": {"amount": 449, "currency": "EUR"},
                        "lines": [
                            {
                                "name": "VAT",
                                "rate_bp": 1900,
                                "amount": {"amount": 449, "currency": "EUR"},
                            }
                        ],
                    },
                    "total": {"amount": 2812, "currency": "EUR"},
                    "shipping_address": _ADDRESS,
                    "created_at": "2026-11-02T10:00:00Z",
                    "updated_at": "2026-11-02T10:00:02Z",
                    "history": [
                        {"status": "pending", "reason": None, "at": "2026-11-02T10:00:00Z"},
                        {"status": "confirmed", "reason": None, "at": "2026-11-02T10:00:02Z"},
                    ],
                }
            ]
        }
    )

    id: UUID
    customer_id: UUID
    status: Status = Field(
        description="pending until stock and payment settle, then confirmed, rejected (no"
        " stock) or cancelled; shipped once an admin ships it"
    )
    status_reason: str | None
    lines: list[OrderLineOut]
    shipping_address: Address | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]
