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
    "could_be_an_address",
    "normalise_email",
]


def could_be_an_address(text: str) -> bool:
    """No control character (C0, DEL, C1) and valid UTF-8 (no lone surrogate): else no
    address was ever registered with it (``normalise_email``) and none can be stored."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        or not could_be_an_address(email)
    ):
        raise ValueError("not a valid email address")
    return email


#: Declared ``format: email`` (what is accepted: an address, trimmed and lower-cased).
Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(normalise_email),
]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=False,
        json_schema_extra={
            "examples": [
                {"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}
            ]
        },
    )
    email: Email
    password: Password
    name: Name


class Registered(BaseModel):
    id: UUID
    email: str
    name: str


class SignInRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]
        }
    )

    #: Any text: one that is no registered address (even one no address can be, such as
    #: text with a NUL) is refused like a wrong password, 401 (``service.sign_in``).
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(max_length=200)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
