"""Events published by the catalog service on ``catalog.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts.base import EventData
from emporium.contracts.topics import CATALOG_EVENTS

__all__ = [
    "ProductCreated",
    "ProductDeleted",
    "ProductPriceChanged",
    "ProductUpdated",
    "ShortLine",
    "StockChanged",
    "StockReservationRejected",
    "StockReserved",
]


class _CatalogEvent(EventData):
    topic: ClassVar[str] = CATALOG_EVENTS


class ProductCreated(_CatalogEvent):
    event_name: ClassVar[str] = "ProductCreated"
    product_id: UUID
    sku: str
    name: str
    price_amount: int = Field(description="Price in minor units.")
    currency: str = Field(min_length=3, max_length=3)
    category_id: UUID | None = None


class ProductUpdated(_CatalogEvent):
    event_name: ClassVar[str] = "ProductUpdated"
    product_id: UUID
    sku: str
    name: str
    price_amount: int
    currency: str = Field(min_length=3, max_length=3)
    category_id: UUID | None = None


class ProductPriceChanged(_CatalogEvent):
    event_name: ClassVar[str] = "ProductPriceChanged"
    product_id: UUID
    old_amount: int
    new_amount: int
    currency: str = Field(min_length=3, max_length=3)


class ProductDeleted(_CatalogEvent):
    event_name: ClassVar[str] = "ProductDeleted"
    product_id: UUID


class StockChanged(_CatalogEvent):
    event_name: ClassVar[str] = "StockChanged"
    product_id: UUID
    on_hand: int
    reserved: int
    available: int


class StockReserved(_CatalogEvent):
    event_name: ClassVar[str] = "StockReserved"
    order_id: UUID


class ShortLine(BaseModel):
    """A line that could not be reserved: how many were asked for and how many there are."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    product_id: UUID
    requested: int
    available: int


class StockReservationRejected(_CatalogEvent):
    event_name: ClassVar[str] = "StockReservationRejected"
    order_id: UUID
    short_lines: list[ShortLine]
