"""Events published by the catalog service on ``catalog.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts.base import EventData
from emporium.contracts.topics import CATALOG_EVENTS

__all__ = [
    "PRODUCT_VERSION_DESCRIPTION",
    "TAX_CLASS_DESCRIPTION",
    "WEIGHT_GRAMS_DESCRIPTION",
    "OptionState",
    "ProductCreated",
    "ProductCreatedV2",
    "ProductCreatedV3",
    "ProductDeleted",
    "ProductDeletedV2",
    "ProductPriceChanged",
    "ProductPriceChangedV2",
    "ProductUpdated",
    "ProductUpdatedV2",
    "ProductUpdatedV3",
    "ShortLine",
    "ShortVariantLine",
    "StockChanged",
    "StockChangedV2",
    "StockReservationRejected",
    "StockReservationRejectedV2",
    "StockReserved",
    "VariantPrice",
    "VariantState",
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


# Version 2 of the product events: each carries ``product_version``, the product's own
# counter (1 at creation, +1 in the transaction of every change). A consumer keeping a copy
# applies an event only when its ``product_version`` is above the one it holds, whatever the
# producers' clocks say. Both events of one change (``ProductUpdated`` and
# ``ProductPriceChanged``) carry the same number; ``ProductUpdated`` holds the whole state.
# Consumers still read the v1 events (no version) that remain in the topic.

PRODUCT_VERSION_DESCRIPTION = (
    "The product's version after this change: 1 at creation, one more with every change "
    "(both events of one change carry the same number). Apply only above the version held."
)

# What checkout pricing needs besides the price: optional additions to the v2 created and
# updated events (their defaults are what a product published before them was, too).
WEIGHT_GRAMS_DESCRIPTION = "The shipping weight in whole grams (0 when not given)."
TAX_CLASS_DESCRIPTION = "The tax class whose rates apply (`standard` when not given)."


class ProductCreatedV2(_CatalogEvent):
    event_name: ClassVar[str] = "ProductCreated"
    version: ClassVar[int] = 2
    product_id: UUID
    product_version: int = Field(ge=1, description=PRODUCT_VERSION_DESCRIPTION)
    sku: str
    name: str
    price_amount: int = Field(description="Price in minor units.")
    currency: str = Field(min_length=3, max_length=3)
    category_id: UUID | None = None
    weight_grams: int = Field(default=0, ge=0, description=WEIGHT_GRAMS_DESCRIPTION)
    tax_class: str = Field(
        default="standard", min_length=1, max_length=32, description=TAX_CLASS_DESCRIPTION
    )


class ProductUpdatedV2(_CatalogEvent):
    event_name: ClassVar[str] = "ProductUpdated"
    version: ClassVar[int] = 2
    product_id: UUID
    product_version: int = Field(ge=1, description=PRODUCT_VERSION_DESCRIPTION)
    sku: str
    name: str
    price_amount: int
    currency: str = Field(min_length=3, max_length=3)
    category_id: UUID | None = None
    weight_grams: int = Field(default=0, ge=0, description=WEIGHT_GRAMS_DESCRIPTION)
    tax_class: str = Field(
        default="standard", min_length=1, max_length=32, description=TAX_CLASS_DESCRIPTION
    )


class ProductPriceChangedV2(_CatalogEvent):
    event_name: ClassVar[str] = "ProductPriceChanged"
    version: ClassVar[int] = 2
    product_id: UUID
    product_version: int = Field(ge=1, description=PRODUCT_VERSION_DESCRIPTION)
    old_amount: int
    new_amount: int
    currency: str = Field(min_length=3, max_length=3)


class ProductDeletedV2(_CatalogEvent):
    event_name: ClassVar[str] = "ProductDeleted"
    version: ClassVar[int] = 2
    product_id: UUID
    product_version: int = Field(ge=1, description=PRODUCT_VERSION_DESCRIPTION)


# Version 3 of the created and updated events: the v2 fields (``price_amount``/``currency``
# keep meaning the lowest live variant price in the base currency) plus the product's
# options and every live variant with its prices per currency. The whole state, ordered by
# ``product_version`` like v2 (a variant's change bumps its product's version). A product
# without options has exactly one variant, whose id is the product's.


class OptionState(BaseModel):
    """One option of a product and its values, in the product's order."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str = Field(min_length=1, max_length=50)
    values: list[str]


class VariantPrice(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    amount: int = Field(ge=0, description="Minor units of `currency`.")
    currency: str = Field(min_length=3, max_length=3)


class VariantState(BaseModel):
    """A variant as the product events carry it: no price in a currency = not sold in it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    variant_id: UUID
    sku: str
    options: dict[str, str] = Field(default_factory=dict, description="Option name: value.")
    prices: list[VariantPrice]
    weight_grams: int = Field(default=0, ge=0, description=WEIGHT_GRAMS_DESCRIPTION)


class _ProductStateV3(_CatalogEvent):
    """The fields of both v3 state events (each names itself)."""

    version: ClassVar[int] = 3
    product_id: UUID
    product_version: int = Field(ge=1, description=PRODUCT_VERSION_DESCRIPTION)
    sku: str
    name: str
    price_amount: int = Field(description="The lowest variant price in the base currency.")
    currency: str = Field(min_length=3, max_length=3)
    category_id: UUID | None = None
    weight_grams: int = Field(default=0, ge=0, description=WEIGHT_GRAMS_DESCRIPTION)
    tax_class: str = Field(
        default="standard", min_length=1, max_length=32, description=TAX_CLASS_DESCRIPTION
    )
    options: list[OptionState] = Field(default_factory=list)
    variants: list[VariantState]


class ProductCreatedV3(_ProductStateV3):
    event_name: ClassVar[str] = "ProductCreated"


class ProductUpdatedV3(_ProductStateV3):
    event_name: ClassVar[str] = "ProductUpdated"


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


# Version 2 of the stock events: stock is per variant and stock location.


class StockChangedV2(_CatalogEvent):
    """One variant's stock at one location changed."""

    event_name: ClassVar[str] = "StockChanged"
    version: ClassVar[int] = 2
    variant_id: UUID
    product_id: UUID
    location: str = Field(description="The stock location's code.")
    on_hand: int
    reserved: int
    available: int
    variant_available: int = Field(description="The variant's available summed over locations.")


class ShortVariantLine(BaseModel):
    """A variant that could not be reserved: how many were asked for and how many there are
    over every location."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    variant_id: UUID
    product_id: UUID
    requested: int
    available: int


class StockReservationRejectedV2(_CatalogEvent):
    event_name: ClassVar[str] = "StockReservationRejected"
    version: ClassVar[int] = 2
    order_id: UUID
    short_lines: list[ShortVariantLine]
