"""The pricing rules as the admin API takes and shows them.

Every input is bounded here, so nothing reaches the database unchecked: names are 1-100
printable characters, amounts whole minor units from 0 to 2**53 - 1 (exact in every JSON
client), currencies ISO 4217 codes, countries assigned ISO 3166-1 alpha-2 codes (upper case),
times carry a time zone. Rules across fields (a percentage is 1-100 and has no currency, a
fixed amount has one, a window ends after it starts, limits need a code) are checked by
``PromotionIn``, which a change (``PromotionUpdate``) is merged into and checked by again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from emporium.orders.rules.countries import COUNTRY_CODES, country_code

__all__ = [
    "MAX_AMOUNT",
    "AppliesTo",
    "PromotionIn",
    "PromotionKind",
    "PromotionOut",
    "PromotionUpdate",
    "ShippingRateIn",
    "ShippingRateOut",
    "ShippingZoneIn",
    "ShippingZoneOut",
    "TaxRateIn",
    "TaxRateOut",
]

#: The largest amount taken: JavaScript clients read larger JSON integers inexactly.
MAX_AMOUNT = 2**53 - 1
#: Counts stored in 32-bit columns (usage limits).
_MAX_COUNT = 2**31 - 1

# Printable text with at least one character that is not white space (no look-arounds, so
# that schema-driven generators can use the pattern).
_TEXT = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("the time is out of range once converted to UTC") from None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Name = Annotated[str, Field(min_length=1, max_length=100, pattern=_TEXT)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="Minor units (cents).")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]
Country = Annotated[
    str,
    Field(
        min_length=2,
        max_length=2,
        description="ISO 3166-1 alpha-2 country code, upper case.",
        json_schema_extra={"enum": sorted(COUNTRY_CODES)},
    ),
    AfterValidator(country_code),
]
Region = Annotated[
    str,
    Field(
        pattern=r"^[A-Z0-9]{1,3}$",
        description="ISO 3166-2 subdivision code without its country (`CA` of `US-CA`).",
    ),
]
TaxClass = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9_-]{1,32}$",
        description="The products' tax class this rate applies to (`standard`, `reduced`...).",
    ),
]
Code = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="What the shopper types; matched case-insensitively, stored upper case.",
    ),
    AfterValidator(str.upper),
]
Instant = Annotated[AwareDatetime, AfterValidator(_utc)]
Limit = Annotated[int, Field(ge=1, le=_MAX_COUNT)]
PromotionKind = Literal["percentage", "fixed"]


class ShippingRateIn(BaseModel):
    name: Name = Field(description="Rates of a zone with the same name are one method.")
    amount: Amount
    currency: Currency = Field(description="Offered only to carts in this currency.")
    min_subtotal: Amount | None = Field(
        default=None, description="Offered when the cart's subtotal is at least this."
    )
    max_weight_grams: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = Field(
        default=None, description="Offered when the cart weighs at most this."
    )
    estimated_days: Annotated[int, Field(ge=0, le=365)] | None = None


_ZONE: JsonDict = {
    "name": "Iceland",
    "countries": ["IS"],
    "rates": [
        {"name": "Standard", "amount": 990, "currency": "EUR", "estimated_days": 4},
        {"name": "Standard", "amount": 0, "currency": "EUR", "min_subtotal": 10000},
    ],
}


class ShippingZoneIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ZONE]})

    name: Name
    countries: Annotated[
        list[Country], Field(min_length=1, max_length=len(COUNTRY_CODES)), AfterValidator(_unique)
    ]
    rates: list[ShippingRateIn] = Field(min_length=1, max_length=50)


class ShippingRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    amount: int
    currency: str
    min_subtotal: int | None
    max_weight_grams: int | None
    estimated_days: int | None


class ShippingZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    countries: list[str]
    rates: list[ShippingRateOut]
    created_at: datetime


class TaxRateIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"country": "IS", "rate_bp": 2400, "name": "VAT"}]}
    )

    country: Country
    region: Region | None = Field(default=None, description="None: the whole country.")
    tax_class: TaxClass = "standard"
    rate_bp: int = Field(ge=0, le=10000, description="Basis points: 1900 is 19 %.")
    name: Name


class TaxRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    country: str
    region: str | None
    tax_class: str
    rate_bp: int
    name: str
    created_at: datetime


class AppliesTo(BaseModel):
    """The lines a promotion discounts: those of these categories or products (or both)."""

    categories: list[UUID] = Field(default_factory=list, max_length=500)
    products: list[UUID] = Field(default_factory=list, max_length=500)


_PROMOTION: JsonDict = {
    "name": "Welcome",
    "kind": "percentage",
    "value": 10,
    "code": "WELCOME10",
    "per_customer_limit": 1,
}


class PromotionIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PROMOTION]})

    name: Name
    kind: PromotionKind
    value: int = Field(
        ge=1,
        le=MAX_AMOUNT,
        description="percentage: a whole percent, 1 to 100; fixed: minor units of `currency`.",
    )
    currency: Currency | None = Field(default=None, description="fixed only (and required).")
    code: Code | None = Field(default=None, description="None: automatic.")
    applies_to: AppliesTo | None = Field(default=None, description="None: the whole order.")
    starts_at: Instant | None = None
    ends_at: Instant | None = Field(default=None, description="After `starts_at`; exclusive.")
    usage_limit: Limit | None = Field(default=None, description="Orders in all (codes only).")
    per_customer_limit: Limit | None = Field(
        default=None, description="Orders per customer (codes only)."
    )
    min_subtotal: Amount | None = Field(
        default=None, description="The cart's subtotal before any discount must reach it."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        if self.kind == "percentage" and self.value > 100:
            problems.append("a percentage `value` is a whole percent from 1 to 100")
        if self.kind == "percentage" and self.currency is not None:
            problems.append("a percentage takes no `currency`")
        if self.kind == "fixed" and self.currency is None:
            problems.append("a fixed amount needs the `currency` it is in")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            problems.append("`ends_at` must be after `starts_at`")
        if self.code is None and (self.usage_limit, self.per_customer_limit) != (None, None):
            problems.append("usage limits count uses of a `code`: an automatic one has none")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PromotionUpdate(BaseModel):
    """Any fields of ``PromotionIn``; null clears an optional one. The promotion that
    results must be valid as a whole."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"value": 15}]})

    name: Name | None = None
    kind: PromotionKind | None = None
    value: int | None = Field(default=None, ge=1, le=MAX_AMOUNT)
    currency: Currency | None = None
    code: Code | None = None
    applies_to: AppliesTo | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    usage_limit: Limit | None = None
    per_customer_limit: Limit | None = None
    min_subtotal: Amount | None = None


class PromotionOut(BaseModel):
    id: UUID
    name: str
    kind: PromotionKind
    value: int
    currency: str | None
    code: str | None
    applies_to: AppliesTo = Field(description="Both lists empty: the whole order.")
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    min_subtotal: int | None
    used_count: int = Field(description="Orders holding the code now (reserved or redeemed).")
    created_at: datetime
    updated_at: datetime
