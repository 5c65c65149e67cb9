"""The cart as the API shows it."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.orders.common import Money

__all__ = ["CartItemOut", "CartOut", "QuantityIn"]


class QuantityIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": 2}]})

    quantity: int = Field(ge=1, le=99)


class CartItemOut(BaseModel):
    product_id: UUID
    name: str
    sku: str
    unit_price: Money = Field(description="The current price.")
    quantity: int
    line_total: Money
    available: bool = Field(description="False once catalog deleted the product: not orderable.")
    price_changed: bool = Field(description="The price moved since the item was last set.")
    previous_unit_price: Money | None = None


class CartOut(BaseModel):
    items: list[CartItemOut]
    total: Money = Field(description="Of the available items, at current prices.")
