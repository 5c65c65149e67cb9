"""The cart as the API shows it, and what its endpoints take."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emporium.contracts.currencies import currency_code
from emporium.orders.common import Money
from emporium.orders.order.breakdown import PricedOut
from emporium.orders.order.schemas import Address

__all__ = [
    "CODE_PATTERN",
    "CartItemOut",
    "CartOut",
    "CodeIn",
    "NoticeOut",
    "QuantityIn",
    "ShippingMethodIn",
    "ShippingOptionOut",
]

#: What a promotion code can be (the admin API's codes: letters, digits, ``-`` and ``_``).
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: As typed: spaces around a pasted code are forgiven.
_TYPED_CODE_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9_-]{0,63}\s*$"


class QuantityIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"quantity": 2}, {"quantity": 1, "currency": "USD"}]}
    )

    quantity: int = Field(ge=1, le=99)
    currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        pattern=r"^[A-Za-z]{3}$",
        description="ISO 4217. On the cart's first item it fixes the cart's currency "
        "(default: the variant's base price currency); later items may only repeat it.",
    )

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str | None) -> str | None:
        return None if value is None else currency_code(value)


class ShippingMethodIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "0196a5a2-0000-7000-8000-000000000001"}]}
    )

    id: UUID = Field(description="A shipping rate offered in `shipping_options`.")


class CodeIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "WELCOME10"}]})

    code: str = Field(
        max_length=70, pattern=_TYPED_CODE_PATTERN, description="Matched case-insensitively."
    )


class CartItemOut(BaseModel):
    product_id: UUID = Field(description="The product the variant belongs to.")
    variant_id: UUID = Field(
        description="The variant in the cart (a product without options: the product's id)."
    )
    name: str
    sku: str = Field(description="The variant's SKU.")
    options: dict[str, str] = Field(description="The variant's option values ({}: none).")
    unit_price: Money = Field(description="The current price, as entered.")
    quantity: int
    line_total: Money
    available: bool = Field(
        description="False once catalog deleted the product or variant, or while it has no "
        "price in the cart's currency: not orderable."
    )
    price_changed: bool = Field(description="The price moved since the item was last set.")
    previous_unit_price: Money | None = None


class ShippingOptionOut(BaseModel):
    id: UUID
    name: str
    amount: Money = Field(description="The rate as entered (tax included in inclusive currencies).")
    estimated_days: int | None


class NoticeOut(BaseModel):
    reason: str = Field(
        description="`shipping_method_unavailable`, or why a code was dropped (`expired`, "
        "`not_started`, `used_up`, `not_eligible`, `min_subtotal`, `unknown`)."
    )
    detail: str


class CartOut(PricedOut):
    items: list[CartItemOut]
    shipping_address: Address | None
    shipping_options: list[ShippingOptionOut] = Field(
        description="The rates offered for the address and contents (empty: no address, "
        "or no zone ships there, which means no shipping charge)."
    )
    codes: list[str] = Field(description="The promotion code applied (at most one).")
    notices: list[NoticeOut] = Field(
        description="Why a chosen shipping method or a code was dropped; shown until the "
        "cart next changes."
    )
