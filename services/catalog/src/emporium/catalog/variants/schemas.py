"""Request and response bodies of variants, stock locations and stock per location
(``../shared/API.md``, "Additions: variants, stock locations, currencies").

Inputs are checked here with the pure rules (``options.product_options`` for names and
values, ``currency_code`` for ISO 4217), so nothing unchecked reaches the database: what
only the product can tell (is ``M`` a value of its ``size``? is there a base-currency
price?) is the service's check, not the schema's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.config import JsonDict

from emporium.catalog.inventory.schemas import StockSet
from emporium.catalog.variants import options as rules
from emporium.contracts.currencies import currency_code

__all__ = [
    "LOCATION_CODE_PATTERN",
    "MAX_AMOUNT",
    "MAX_WEIGHT_GRAMS",
    "Location",
    "LocationCreate",
    "LocationStock",
    "OptionIn",
    "Price",
    "StockSet",
    "Variant",
    "VariantAvailability",
    "VariantCreate",
    "VariantUpdate",
]

MAX_AMOUNT = 10**12
#: Whole grams, up to a tonne (as a product's weight).
MAX_WEIGHT_GRAMS = 1_000_000
#: Lower-case letters, digits and ``-``, starting with a letter or digit: such codes sort
#: the same under ``COLLATE "C"`` and Python, which the lock order relies on.
LOCATION_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
_SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_WEIGHT = "The shipping weight in whole grams (0: weightless, e.g. a download)."
_OPTIONS = "The variant's value of each of its product's options, {name: value}."
_PRICES = "Prices in minor units, one per currency; one must be in the shop's base currency."


def _whole(value: Any) -> Any:
    # A JSON Schema integer: 12 or 12.0, never true/false or "12" (refused by strict=True).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Price(BaseModel):
    """An amount in minor units of an ISO 4217 currency (``eur`` is read as ``EUR``)."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(strict=True, ge=0, le=MAX_AMOUNT)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])

    _amount = field_validator("amount", mode="before")(_whole)

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        return currency_code(value)


def _one_price_per_currency(prices: list[Price]) -> list[Price]:
    seen: set[str] = set()
    for price in prices:
        if price.currency in seen:
            raise ValueError(f"two prices in {price.currency}: give one per currency")
        seen.add(price.currency)
    return prices


def _checked_options(given: dict[str, str]) -> dict[str, str]:
    """Names and values by the option rules (1-50 characters, no control characters, no
    name twice by key), each name as one option of its one value; trimmed as stored."""
    if len(given) > rules.MAX_OPTIONS:
        raise ValueError(f"a variant has at most {rules.MAX_OPTIONS} options")
    checked = rules.product_options([(name, [value]) for name, value in given.items()])
    return {option.name: option.values[0] for option in checked}


class OptionIn(BaseModel):
    """One option of a product: a name and its values in the order pickers show them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=rules.MAX_LENGTH)
    values: list[str] = Field(min_length=1, max_length=rules.MAX_VALUES)

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str], info: ValidationInfo) -> list[str]:
        name = info.data.get("name", "option")
        return list(rules.product_options([(name, values)])[0].values)

    @classmethod
    def check_all(cls, options: list[OptionIn]) -> tuple[rules.ProductOption, ...]:
        """A product's options together (at most 3, names unique by key)."""
        return rules.product_options([(option.name, option.values) for option in options])


_VARIANT_EXAMPLE: JsonDict = {
    "sku": "TEE-RED-M",
    "options": {"colour": "red", "size": "M"},
    "prices": [{"amount": 1900, "currency": "EUR"}, {"amount": 2100, "currency": "USD"}],
    "weight_grams": 180,
}


class VariantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_VARIANT_EXAMPLE]})

    sku: str = Field(min_length=1, max_length=64, pattern=_SKU_PATTERN)
    options: dict[str, str] = Field(default_factory=dict, description=_OPTIONS)
    prices: list[Price] = Field(min_length=1, max_length=200, description=_PRICES)
    weight_grams: int = Field(
        default=0, strict=True, ge=0, le=MAX_WEIGHT_GRAMS, description=_WEIGHT
    )

    _weight = field_validator("weight_grams", mode="before")(_whole)
    _options = field_validator("options")(_checked_options)
    _prices = field_validator("prices")(_one_price_per_currency)


class VariantUpdate(BaseModel):
    """Any subset of a variant's fields; ``prices`` given replaces them all."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(default=None, min_length=1, max_length=64, pattern=_SKU_PATTERN)
    options: dict[str, str] | None = Field(default=None, description=_OPTIONS)
    prices: list[Price] | None = Field(
        default=None, min_length=1, max_length=200, description=_PRICES
    )
    weight_grams: int | None = Field(
        default=None, strict=True, ge=0, le=MAX_WEIGHT_GRAMS, description=_WEIGHT
    )

    _weight = field_validator("weight_grams", mode="before")(_whole)

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _checked_options(value)

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: list[Price] | None) -> list[Price] | None:
        return None if value is None else _one_price_per_currency(value)


class VariantAvailability(BaseModel):
    in_stock: bool
    available: int


class Variant(BaseModel):
    """A variant as the admin API answers it (every price it has)."""

    id: UUID
    product_id: UUID
    sku: str
    options: dict[str, str]
    prices: list[Price]
    weight_grams: int
    availability: VariantAvailability


class LocationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"code": "vienna", "name": "Vienna", "priority": 1}]},
    )

    code: str = Field(pattern=LOCATION_CODE_PATTERN, description="Lower case, digits and -.")
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(
        default=0, strict=True, ge=0, le=1_000_000, description="Lower ships first."
    )

    _priority = field_validator("priority", mode="before")(_whole)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a location's name cannot be blank")
        return value.strip()


class Location(BaseModel):
    code: str
    name: str
    priority: int
    created_at: datetime


class LocationStock(BaseModel):
    """A variant's units at one location (``available = on_hand - reserved``)."""

    location: str
    on_hand: int
    reserved: int
    available: int
