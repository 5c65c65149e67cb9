"""Who made a request: the verified claims of an access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

__all__ = ["Principal", "Role"]

Role = Literal["customer", "admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified identity behind an access token."""

    subject: UUID
    role: Role
    token_id: str
    expires_at: datetime
    token: str
    #: The sign-in this token belongs to (``sid``), when the issuer says.
    session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
