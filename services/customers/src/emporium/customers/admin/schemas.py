"""Bodies of /admin/customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.customers.account.schemas import Profile

__all__ = ["AdminCustomer", "AdminCustomerPage", "AdminCustomerUpdate", "AuditOut"]


class AdminCustomer(Profile):
    deleted: bool = False
    updated_at: datetime


class AdminCustomerPage(BaseModel):
    items: list[AdminCustomer]
    next_cursor: str | None


class AdminCustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    role: Literal["customer", "admin"] | None = None
    disabled: bool | None = Field(default=None, strict=True)


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    actor_id: UUID | None
    customer_id: UUID
    action: str
    changes: dict[str, Any]
    at: datetime
