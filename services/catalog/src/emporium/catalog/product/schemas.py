"""Product request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from emporium.catalog.models import DEFAULT_TAX_CLASS
from emporium.catalog.variants.schemas import OptionIn

__all__ = [
    "MAX_WEIGHT_GRAMS",
    "Availability",
    "CategoryFacet",
    "Image",
    "ListingFacets",
    "Money",
    "Option",
    "Product",
    "ProductCreate",
    "ProductPage",
    "ProductUpdate",
    "ProductVariant",
    "Sort",
    "ValueFacet",
]

Sort = Literal["name", "price", "-price", "newest"]


def _whole(value: Any) -> Any:
    # A JSON Schema integer: 12 or 12.0, never true/false or "12" (refused by strict=True).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Money(BaseModel):
    """An amount in minor units (cents) of an ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(strict=True, ge=0, le=10**12)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")

    _amount = field_validator("amount", mode="before")(_whole)


MAX_AMOUNT = 10**12


def _money(value: Any) -> Any:
    # A bare integer is an amount in the default currency (convenient for admins and seeds).
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"amount": value}  # Money.amount takes only whole numbers (12 or 12.0)
    return value


#: What ``_money`` takes besides a Money object: a bare amount in minor units (EUR).
_MINOR_UNITS = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_AMOUNT,
    "description": "An amount in minor units of the default currency (EUR)",
}


def _money_or_minor_units(schema: dict[str, Any]) -> None:
    """The price's schema says what is accepted: ``Money`` or an integer (``_money``)."""
    options = schema.pop("anyOf", None) or [{"$ref": schema.pop("$ref")}]
    nulls = [option for option in options if option.get("type") == "null"]
    others = [option for option in options if option.get("type") != "null"]
    schema["anyOf"] = [*others, dict(_MINOR_UNITS), *nulls]


#: Whole grams, up to a tonne: a shipping weight, not a freight manifest.
MAX_WEIGHT_GRAMS = 1_000_000
_WEIGHT = "The shipping weight in whole grams (0: weightless, e.g. a download)."
_TAX_CLASS_PATTERN = r"^[a-z0-9_-]{1,32}$"
_TAX_CLASS = "The tax class whose rates apply (`standard` unless set; e.g. `reduced`)."
_OPTIONS = (
    "The product's options (at most 3, each with 1 to 50 values, in the order pickers show "
    "them). Existing variants take a new option's first value; given on a change, the list "
    "replaces the options (409 if two variants would then have the same values)."
)

_PRODUCT_EXAMPLE: JsonDict = {
    "sku": "TEA-SENCHA-100",
    "name": "Sencha, 100 g",
    "description": "A grassy Japanese green tea.",
    "price": {"amount": 1290, "currency": "EUR"},
    "attributes": {"origin": "Japan"},
    "weight_grams": 120,
    "tax_class": "reduced",
}


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PRODUCT_EXAMPLE]})

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    price: Money = Field(json_schema_extra=_money_or_minor_units)
    category_id: UUID | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    weight_grams: int = Field(
        default=0, strict=True, ge=0, le=MAX_WEIGHT_GRAMS, description=_WEIGHT
    )
    tax_class: str = Field(
        default=DEFAULT_TAX_CLASS, pattern=_TAX_CLASS_PATTERN, description=_TAX_CLASS
    )
    options: list[OptionIn] = Field(default_factory=list, max_length=3, description=_OPTIONS)

    _price = field_validator("price", mode="before")(_money)
    _weight = field_validator("weight_grams", mode="before")(_whole)


class ProductUpdate(BaseModel):
    """Any subset of the product's fields; an absent field is left as it is."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    price: Money | None = Field(default=None, json_schema_extra=_money_or_minor_units)
    category_id: UUID | None = None
    attributes: dict[str, Any] | None = None
    weight_grams: int | None = Field(
        default=None, strict=True, ge=0, le=MAX_WEIGHT_GRAMS, description=_WEIGHT
    )
    tax_class: str | None = Field(default=None, pattern=_TAX_CLASS_PATTERN, description=_TAX_CLASS)
    options: list[OptionIn] | None = Field(default=None, max_length=3, description=_OPTIONS)

    _price = field_validator("price", mode="before")(_money)
    _weight = field_validator("weight_grams", mode="before")(_whole)


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


class Option(BaseModel):
    name: str
    values: list[str]


class ProductVariant(BaseModel):
    """A variant as a shopper sees it: its price in the asked currency (null: not sold in
    it, so not purchasable in it) and its units available over every location."""

    id: UUID
    sku: str
    options: dict[str, str]
    price: Money | None
    availability: Availability


class Product(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_PRODUCT_EXAMPLE,
                    "id": "0196a5a0-7c1e-7000-8000-000000000001",
                    "category_id": "0196a5a0-7c1e-7000-8000-0000000000c1",
                    "images": [
                        {
                            "id": "0196a5a0-7c1e-7000-8000-0000000000a1",
                            "url": "/api/v1/media/images/ab12/display.webp",
                            "thumbnail_url": "/api/v1/media/images/ab12/thumbnail.webp",
                            "original_url": "/api/v1/media/images/ab12/original.jpeg",
                            "width": 1200,
                            "height": 900,
                        }
                    ],
                    "availability": {"in_stock": True, "available": 25},
                    "options": [],
                    "variants": [
                        {
                            "id": "0196a5a0-7c1e-7000-8000-000000000001",
                            "sku": "TEA-SENCHA-100",
                            "options": {},
                            "price": {"amount": 1290, "currency": "EUR"},
                            "availability": {"in_stock": True, "available": 25},
                        }
                    ],
                    "created_at": "2026-11-02T09:30:00Z",
                    "updated_at": "2026-11-02T09:30:00Z",
                }
            ]
        }
    )

    id: UUID
    sku: str
    name: str
    description: str
    price: Money | None = Field(
        description="The lowest price of its variants in the asked currency (null: none is "
        "sold in it)."
    )
    category_id: UUID | None
    attributes: dict[str, Any]
    weight_grams: int = Field(description=_WEIGHT)
    tax_class: str = Field(description=_TAX_CLASS)
    images: list[Image]
    availability: Availability = Field(description="Summed over its variants.")
    options: list[Option]
    variants: list[ProductVariant]
    created_at: datetime
    updated_at: datetime


class CategoryFacet(BaseModel):
    id: UUID
    slug: str
    count: int


class ValueFacet(BaseModel):
    value: str
    count: int


class ListingFacets(BaseModel):
    """Counted over the whole filtered result, not the page: products per category (its
    own, not its ancestors) and per option value (once per product, by key)."""

    categories: list[CategoryFacet]
    options: dict[str, list[ValueFacet]]


class ProductPage(BaseModel):
    items: list[Product]
    next_cursor: str | None
    facets: ListingFacets
