"""Request and response bodies of the /auth endpoints."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "Email",
    "RefreshRequest",
    "RegisterRequest",
    "Registered",
    "SignInRequest",
    "TokenPair",
    "normalise_email",
]


def normalise_email(value: str) -> str:
    """Trim and lower-case (the whole address: a shop treats ``A@x`` and ``a@x`` alike)."""
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or any(c.isspace() for c in email)
        or len(email) > 320
    ):
        raise ValueError("not a valid email address")
    return email


Email = Annotated[str, Field(max_length=320), AfterValidator(normalise_email)]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    email: Email
    password: Password
    name: Name


class Registered(BaseModel):
    id: UUID
    email: str
    name: str


class SignInRequest(BaseModel):
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(max_length=200)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
