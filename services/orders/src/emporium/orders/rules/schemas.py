"""The pricing rules as the admin API takes and shows them.

Every input is bounded here, so nothing reaches the database unchecked: names are 1-100
printable characters, amounts whole minor units from 0 to 2**53 - 1 (exact in every JSON
client), currencies ISO 4217 codes, countries assigned ISO 3166-1 alpha-2 codes (upper case),
times carry a time zone. Numbers are JSON integers (12 or 12.0, never "12" or true) and times
strings, as the schema says. A promotion is one of two shapes by ``kind`` (a percentage of 1
to 100 without a currency, a fixed amount with one), so the schema itself says that; what no
schema can say (a window ends after it starts, only a code has usage limits) is checked by
``check_promotion``, on a new promotion and on one a change (``PromotionUpdate``) would leave.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)
from pydantic.config import JsonDict

from emporium.orders.rules.countries import COUNTRY_CODES, country_code

__all__ = [
    "MAX_AMOUNT",
    "PROMOTION_IN",
    "AppliesTo",
    "FixedPromotionIn",
    "PercentagePromotionIn",
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
    "check_promotion",
]

#: The largest amount taken: JavaScript clients read larger JSON integers inexactly.
MAX_AMOUNT = 2**53 - 1
#: Counts stored in 32-bit columns (usage limits).
_MAX_COUNT = 2**31 - 1

# Text without control characters and not blank (one character beyond ASCII space); no
# look-arounds or class escapes, so that every regex engine and generator reads it alike.
_TEXT = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


def _whole(value: Any) -> Any:
    # A JSON Schema integer: 12 or 12.0, never true/false or "12" (refused by strict=True).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _time_text(value: Any) -> Any:
    # The schema says a date-time string: a number is not taken as a Unix time.
    if not isinstance(value, str | datetime):
        raise ValueError("a date-time is an RFC 3339 string, like 2026-12-24T18:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999: a bound of time, kept as one
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Name = Annotated[str, Field(min_length=1, max_length=100, pattern=_TEXT)]
# After the constraints' Field, so that they stay JSON Schema keywords (minimum, maximum).
_WHOLE = BeforeValidator(_whole)
Amount = Annotated[
    int, Field(strict=True, ge=0, le=MAX_AMOUNT, description="Minor units (cents)."), _WHOLE
]
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
Instant = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_utc)]
Limit = Annotated[int, Field(strict=True, ge=1, le=_MAX_COUNT), _WHOLE]
Grams = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT), _WHOLE]
Days = Annotated[int, Field(strict=True, ge=0, le=365), _WHOLE]
BasisPoints = Annotated[
    int, Field(strict=True, ge=0, le=10000, description="Basis points: 1900 is 19 %."), _WHOLE
]
Percent = Annotated[int, Field(strict=True, ge=1, le=100), _WHOLE]
Positive = Annotated[int, Field(strict=True, ge=1, le=MAX_AMOUNT), _WHOLE]
PromotionKind = Literal["percentage", "fixed"]


class ShippingRateIn(BaseModel):
    name: Name = Field(description="Rates of a zone with the same name are one method.")
    amount: Amount
    currency: Currency = Field(description="Offered only to carts in this currency.")
    min_subtotal: Amount | None = Field(
        default=None, description="Offered when the cart's subtotal is at least this."
    )
    max_weight_grams: Grams | None = Field(
        default=None, description="Offered when the cart weighs at most this."
    )
    estimated_days: Days | None = None


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
    rate_bp: BasisPoints
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


def check_promotion(
    *,
    code: str | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    usage_limit: int | None,
    per_customer_limit: int | None,
) -> list[str]:
    """What is wrong across a promotion's fields that no schema can say ([]: nothing)."""
    problems: list[str] = []
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        problems.append("`ends_at` must be after `starts_at`")
    if code is None and (usage_limit, per_customer_limit) != (None, None):
        problems.append("usage limits count uses of a `code`: an automatic promotion has none")
    return problems


class _PromotionFields(BaseModel):
    name: Name
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
        problems = check_promotion(
            code=self.code,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            usage_limit=self.usage_limit,
            per_customer_limit=self.per_customer_limit,
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PercentagePromotionIn(_PromotionFields):
    """A whole percent off each line it applies to."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROMOTION]})

    kind: Literal["percentage"]
    value: Percent = Field(description="A whole percent, 1 to 100.")
    currency: None = Field(default=None, description="A percentage is in no currency.")


class FixedPromotionIn(_PromotionFields):
    """An amount off the lines it applies to, for carts in its currency."""

    kind: Literal["fixed"]
    value: Positive = Field(description="Minor units of `currency`.")
    currency: Currency


#: ``POST /admin/promotions``' body: its ``kind`` says which shape.
PromotionIn = Annotated[PercentagePromotionIn | FixedPromotionIn, Field(discriminator="kind")]
#: Validates a ``PromotionIn`` from plain data.
PROMOTION_IN: TypeAdapter[PercentagePromotionIn | FixedPromotionIn] = TypeAdapter(PromotionIn)


class PromotionUpdate(BaseModel):
    """Any fields of a ``PromotionIn``; null clears an optional one. The promotion that
    results must be valid as a whole (409 otherwise: the change conflicts with it)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Welcome back"}]})

    name: Name | None = None
    kind: PromotionKind | None = None
    value: Positive | None = None
    currency: Currency | None = None
    code: Code | None = None
    applies_to: AppliesTo | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    usage_limit: Limit | None = None
    per_customer_limit: Limit | None = None
    min_subtotal: Amount | None = None


class PromotionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
