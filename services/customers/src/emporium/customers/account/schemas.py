"""Bodies of /me and /me/addresses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Body
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from emporium.customers.account.countries import ACCEPTED_SPELLINGS, country_code

__all__ = [
    "AddressCreate",
    "AddressOut",
    "AddressUpdate",
    "DeletionPassword",
    "Money",
    "Profile",
    "ProfileUpdate",
]

#: ISO 3166-1 alpha-2, declared as the enum of what is accepted (upper or lower case).
Country = Annotated[
    str,
    Field(
        min_length=2,
        max_length=2,
        description="ISO 3166-1 alpha-2 country code (stored upper-cased)",
        json_schema_extra={"enum": list(ACCEPTED_SPELLINGS)},
    ),
    AfterValidator(country_code),
]
Line = Annotated[str, Field(min_length=1, max_length=200)]
#: ``DELETE /me``'s body ``{"password": ...}``: a stolen access token alone cannot erase the
#: account. Embedded, so a missing body is a 422 naming ``password``, not ``body``.
DeletionPassword = Annotated[
    str,
    Body(
        embed=True,
        min_length=1,
        max_length=1024,
        description="The account's current password.",
    ),
]


class Money(BaseModel):
    amount: int
    currency: str


class Profile(BaseModel):
    """A customer as they (and admins) see it."""

    id: UUID
    email: str | None
    name: str
    role: Literal["customer", "admin"]
    disabled: bool = False
    created_at: datetime
    order_count: int
    lifetime_spend: Money


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Ada"}]})
    name: Annotated[str, Field(min_length=1, max_length=200)]


_ADDRESS: JsonDict = {
    "line1": "1 Main Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class AddressCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ADDRESS]})
    line1: Line
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Country


class AddressUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line1: Line | None = None
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    country: Country | None = None


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
    created_at: datetime
    updated_at: datetime
