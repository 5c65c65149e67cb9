"""Product request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Availability",
    "Image",
    "Money",
    "Product",
    "ProductCreate",
    "ProductPage",
    "ProductUpdate",
    "Sort",
]

Sort = Literal["name", "price", "-price", "newest"]


class Money(BaseModel):
    """An amount in minor units (cents) of an ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=0, le=10**12)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


def _money(value: Any) -> Any:
    # A bare integer is an amount in the default currency (convenient for admins and seeds).
    if isinstance(value, int) and not isinstance(value, bool):
        return {"amount": value}
    return value


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    price: Money
    category_id: UUID | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    _price = field_validator("price", mode="before")(_money)


class ProductUpdate(BaseModel):
    """Any subset of the product's fields; an absent field is left as it is."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    price: Money | None = None
    category_id: UUID | None = None
    attributes: dict[str, Any] | None = None

    _price = field_validator("price", mode="before")(_money)


class Image(BaseModel):
    id: UUID
    url: str = Field(description="The display size (WebP, at most 1200 px).")
    thumbnail_url: str = Field(description="The thumbnail (WebP, at most 320 px).")
    original_url: str = Field(description="The upload, re-encoded without metadata.")
    width: int
    height: int


class Availability(BaseModel):
    in_stock: bool
    available: int


class Product(BaseModel):
    id: UUID
    sku: str
    name: str
    description: str
    price: Money
    category_id: UUID | None
    attributes: dict[str, Any]
    images: list[Image]
    availability: Availability
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None
